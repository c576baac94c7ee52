# SPDX-License-Identifier: BSD-2-Clause
# make install / uninstall: PREFIX (default /usr/local) and DESTDIR (staging root)
# as usual; BINDIR, LIBDIR, INCLUDEDIR, MANDIR and PKGCONFIGDIR can be overridden.
#   make install PREFIX=/usr DESTDIR=$PWD/pkgroot

BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install

# The library's version is the one the header declares; the soname (.so.0) is
# fixed by the Makefile's link rule.
SZ_INSTALL_VERSION := $(shell sed -n 's/^\#define SZ_VERSION "\(.*\)"/\1/p' include/symbolyze.h)
SZ_SONAME := libsymbolyze.so.0
SZ_REALNAME := libsymbolyze.so.$(SZ_INSTALL_VERSION)

# In the .pc file, directories under PREFIX are written relative to ${prefix}.
sz_pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

# Regenerated on every install: PREFIX may differ from the last one.
$(BUILD)/symbolyze.pc: symbolyze.pc.in include/symbolyze.h FORCE_PC
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed -e '/^#/d' -e 's|@PREFIX@|$(PREFIX)|g' \
		-e 's|@LIBDIR@|$(call sz_pc_dir,$(LIBDIR))|g' \
		-e 's|@INCLUDEDIR@|$(call sz_pc_dir,$(INCLUDEDIR))|g' \
		-e 's|@VERSION@|$(SZ_INSTALL_VERSION)|g' $< > $@

FORCE_PC:

install: all $(BUILD)/symbolyze.pc doc/symbolyze.8
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man8
	$(Q)$(INSTALL) -m 755 $(BUILD)/symbolyze $(DESTDIR)$(BINDIR)/symbolyze
	$(Q)$(INSTALL) -m 644 $(BUILD)/libsymbolyze.a $(DESTDIR)$(LIBDIR)/libsymbolyze.a
	$(Q)$(INSTALL) -m 755 $(BUILD)/libsymbolyze.so $(DESTDIR)$(LIBDIR)/$(SZ_REALNAME)
	$(Q)ln -sfn $(SZ_REALNAME) $(DESTDIR)$(LIBDIR)/$(SZ_SONAME)
	$(Q)ln -sfn $(SZ_SONAME) $(DESTDIR)$(LIBDIR)/libsymbolyze.so
	$(Q)$(INSTALL) -m 644 include/symbolyze.h $(DESTDIR)$(INCLUDEDIR)/symbolyze.h
	$(Q)$(INSTALL) -m 644 $(BUILD)/symbolyze.pc $(DESTDIR)$(PKGCONFIGDIR)/symbolyze.pc
	$(Q)$(INSTALL) -m 644 doc/symbolyze.8 $(DESTDIR)$(MANDIR)/man8/symbolyze.8

uninstall:
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(BINDIR)/symbolyze \
		$(DESTDIR)$(LIBDIR)/libsymbolyze.a \
		$(DESTDIR)$(LIBDIR)/$(SZ_REALNAME) \
		$(DESTDIR)$(LIBDIR)/$(SZ_SONAME) \
		$(DESTDIR)$(LIBDIR)/libsymbolyze.so \
		$(DESTDIR)$(INCLUDEDIR)/symbolyze.h \
		$(DESTDIR)$(PKGCONFIGDIR)/symbolyze.pc \
		$(DESTDIR)$(MANDIR)/man8/symbolyze.8

.PHONY: install uninstall FORCE_PC

# --- the service: symbolyze.service and its environment file -----------------
# SYSTEMDUNITDIR: where systemd looks (it also reads /usr/local/lib/systemd/
# system); SYSCONFDIR: /etc for PREFIX=/usr, else under PREFIX.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

$(BUILD)/symbolyze.service: dist/symbolyze.service.in FORCE_PC
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

install: install-service
uninstall: uninstall-service

# The environment file is configuration: an existing one is kept, and
# uninstall removes it only if nobody edited it.
install-service: $(BUILD)/symbolyze.service dist/symbolyze.default
	$(Q)$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	$(Q)$(INSTALL) -m 644 $(BUILD)/symbolyze.service $(DESTDIR)$(SYSTEMDUNITDIR)/symbolyze.service
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/default/symbolyze ] || \
		$(INSTALL) -m 644 dist/symbolyze.default $(DESTDIR)$(SYSCONFDIR)/default/symbolyze

uninstall-service:
	$(Q)rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/symbolyze.service
	$(Q)! cmp -s dist/symbolyze.default $(DESTDIR)$(SYSCONFDIR)/default/symbolyze || \
		rm -f $(DESTDIR)$(SYSCONFDIR)/default/symbolyze

.PHONY: install-service uninstall-service
