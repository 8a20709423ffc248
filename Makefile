#
# OpenWrt package recipe for mqttd and luci-app-mqttd.
# Place this repository at package/mqttd of an OpenWrt 24.10 buildroot or SDK, then:
#   make package/mqttd/compile V=s
# Without the SDK, `npm run package` builds the same two .ipk files from the same lists
# (files/install.list, and the control fields and scripts below).
#

include $(TOPDIR)/rules.mk

PKG_NAME:=mqttd
PKG_VERSION:=0.1.0
PKG_RELEASE:=1

PKG_LICENSE:=EPL-2.0
PKG_MAINTAINER:=mqttd maintainers <maintainers@mqttd.invalid>

# The bundle is built with the host's Node, as OpenWrt's JavaScript packages do.
PKG_BUILD_DEPENDS:=node/host
PKG_BUILD_PARALLEL:=1

include $(INCLUDE_DIR)/package.mk

HOST_NODE:=$(STAGING_DIR_HOSTPKG)/bin/node
HOST_NPM:=$(STAGING_DIR_HOSTPKG)/bin/npm
MQTTD_INSTALL_LIST:=$(CURDIR)/files/install.list

define Package/mqttd
  SECTION:=net
  CATEGORY:=Network
  SUBMENU:=IoT
  TITLE:=MQTT broker, mosquitto-compatible, in Node.js
  URL:=https://github.com/mqttd/mqttd
  DEPENDS:=+node
  PKGARCH:=all
  USERID:=mqttd=1883:mqttd=1883
endef

define Package/mqttd/description
 mqttd is an MQTT 3.1, 3.1.1 and 5.0 broker for home routers. It reads mosquitto's
 passwd, ACL and mosquitto.conf files, is configured through UCI (/etc/config/mqttd)
 and runs unprivileged under procd. Includes mqttd_pub, mqttd_sub and mqttd_passwd.
endef

# No empty passwd here: opkg would warn about it on every upgrade and leave a passwd-opkg
# beside the user's. postinst creates it when it is missing.
define Package/mqttd/conffiles
/etc/config/mqttd
/etc/mqttd/acl
endef

define Package/mqttd/postinst
#!/bin/sh
[ "$${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "$${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "$${IPKG_INSTROOT}/lib/functions.sh"
if [ -z "$${IPKG_INSTROOT}" ]; then
	# The users file is the user's: created once, empty, never replaced by an upgrade.
	[ -e /etc/mqttd/passwd ] || { touch /etc/mqttd/passwd && chmod 0640 /etc/mqttd/passwd; }
fi
# OpenWrt's default_postinst: the mqttd user and group (Require-User), `enable` only on a
# first install (an upgrade keeps the user's choice), then `start`. A running broker is
# restarted by that start when the bundle changed: the init script registers its checksum.
default_postinst "$$0" "$$@"
exit 0
endef

# default_prerm: `disable` unless upgrading, then `stop`.
define Package/mqttd/prerm
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] && exit 0
. /lib/functions.sh
default_prerm "$$0" "$$@"
exit 0
endef

# What the broker made at run time goes with it when it is empty: the status and pid files,
# an empty users file, empty folders. A non-empty store, passwd or ACL is the user's data.
define Package/mqttd/postrm
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] && exit 0
rm -f /var/run/mqttd.pid /var/run/mqttd/status.json
[ -s /etc/mqttd/passwd ] || rm -f /etc/mqttd/passwd
rmdir /var/run/mqttd /etc/mqttd/data /etc/mqttd /usr/lib/mqttd 2> /dev/null
exit 0
endef

define Package/luci-app-mqttd
  SECTION:=luci
  CATEGORY:=LuCI
  SUBMENU:=3. Applications
  TITLE:=LuCI support for mqttd: settings, users, ACL and status
  URL:=https://github.com/mqttd/mqttd
  DEPENDS:=+mqttd +luci-base
  PKGARCH:=all
endef

define Package/luci-app-mqttd/description
 Services > MQTT Broker: mqttd's settings and listeners, its users (passwd) and access
 rules (ACL), the simple rules engine (Rules), and who is connected right now.
endef

define Package/luci-app-mqttd/postinst
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] && exit 0
# LuCI caches its menu and rpcd its plugins: make the new page and methods visible.
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
/etc/init.d/rpcd reload
exit 0
endef

# The same after removal: rpcd forgets the mqttd object, LuCI the menu entry.
define Package/luci-app-mqttd/postrm
#!/bin/sh
[ -n "$${IPKG_INSTROOT}" ] && exit 0
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
/etc/init.d/rpcd reload
rmdir /www/luci-static/resources/view/mqttd /www/luci-static/resources/mqttd 2> /dev/null
exit 0
endef

# The sources are this directory: no download.
define Build/Prepare
	mkdir -p $(PKG_BUILD_DIR)
	$(CP) $(CURDIR)/package.json $(CURDIR)/package-lock.json $(CURDIR)/tsconfig.json \
		$(CURDIR)/src $(CURDIR)/scripts $(CURDIR)/files $(CURDIR)/luci $(PKG_BUILD_DIR)/
	[ ! -d $(CURDIR)/node_modules ] || $(CP) $(CURDIR)/node_modules $(PKG_BUILD_DIR)/
endef

define Build/Configure
endef

# esbuild compiles the TypeScript straight into one file per command under dist/.
define Build/Compile
	cd $(PKG_BUILD_DIR) && \
		[ -d node_modules/esbuild ] || \
		PATH="$(STAGING_DIR_HOSTPKG)/bin:$$$$PATH" HOME="$(PKG_BUILD_DIR)" \
		$(HOST_NPM) ci --no-audit --no-fund --ignore-scripts=false
	cd $(PKG_BUILD_DIR) && PATH="$(STAGING_DIR_HOSTPKG)/bin:$$$$PATH" $(HOST_NODE) scripts/bundle.mjs
endef

# Installs the lines of files/install.list for package $(1) into $(2).
define InstallFromList
	grep -E '^$(1)[[:space:]]' $(MQTTD_INSTALL_LIST) | while read -r pkg mode src dst; do \
		$(INSTALL_DIR) "$(2)$$$${dst%/*}" || exit 1; \
		if [ "$$$$mode" = link ]; then \
			$(LN) "$$$$src" "$(2)$$$$dst" || exit 1; \
		else \
			install -m "$$$$mode" "$(PKG_BUILD_DIR)/$$$$src" "$(2)$$$$dst" || exit 1; \
		fi; \
	done
endef

define Package/mqttd/install
	$(call InstallFromList,mqttd,$(1))
endef

define Package/luci-app-mqttd/install
	$(call InstallFromList,luci-app-mqttd,$(1))
endef

$(eval $(call BuildPackage,mqttd))
$(eval $(call BuildPackage,luci-app-mqttd))
