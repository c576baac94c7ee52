# SPDX-License-Identifier: BSD-2-Clause
# Debian packages: `make deb` builds symbolyze, libsymbolyze0 and
# libsymbolyze-dev with dpkg-buildpackage from a copy of the tree in
# $(BUILD)/deb (so nothing lands outside the tree); `make deb-check` then runs
# lintian and installs the package (tests/integration/test_deb.py).
DEB_DIR := $(BUILD)/deb

deb:
	$(call msg,DEB,$(DEB_DIR))
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	$(Q)tar --exclude=./.git --exclude='./build*' --exclude=./$(BUILD) -cf - . | \
		tar -xf - -C $(DEB_DIR)/src
	$(Q)cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b > ../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	$(Q)ls $(DEB_DIR)/*.deb

deb-check: deb all
	$(Q)/usr/bin/python3 -m pytest -q tests/integration/test_deb.py --bin $(BUILD)/symbolyze \
		--fixture-dir $(FIX)

.PHONY: deb deb-check
