'use strict';
'require view';
'require form';

// Services > MQTT Broker > Settings: UCI /etc/config/mqttd. Saving commits UCI; the init
// script's reload trigger then restarts mqttd (listeners and limits need a restart).
return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('mqttd', _('MQTT Broker'),
			_('mqttd, an MQTT broker that reads mosquitto\'s files. Users and access rules are on their own pages.'));

		s = m.section(form.NamedSection, 'general', 'mqttd', _('General'));

		o = s.option(form.Flag, 'allow_anonymous', _('Allow anonymous clients'),
			_('Clients without a username may connect. Their access is the ACL\'s anonymous rules.'));
		o.default = '0';
		o.rmempty = false;

		o = s.option(form.Flag, 'persistence', _('Persistence'),
			_('Keep retained messages and persistent sessions across restarts.'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'autosave_interval', _('Autosave interval (s)'),
			_('How often the store is written when something changed. Longer saves flash.'));
		o.datatype = 'uinteger';
		o.placeholder = '1800';

		o = s.option(form.Value, 'max_connections', _('Maximum connections'), _('-1: no limit.'));
		o.datatype = 'integer';
		o.placeholder = '-1';

		o = s.option(form.Value, 'max_queued_messages', _('Queued messages per client'),
			_('QoS 1 and 2 messages held for a client that is offline or slow.'));
		o.datatype = 'uinteger';
		o.placeholder = '1000';

		o = s.option(form.Value, 'message_size_limit', _('Largest message (bytes)'), _('0: no limit.'));
		o.datatype = 'uinteger';
		o.placeholder = '0';

		o = s.option(form.ListValue, 'log_level', _('Log level'), _('Messages go to the system log (logread).'));
		o.value('error', _('Errors'));
		o.value('warning', _('Warnings'));
		o.value('notice', _('Notices'));
		o.value('information', _('Information'));
		o.value('debug', _('Debug'));
		o.default = 'notice';

		s = m.section(form.GridSection, 'listener', _('Listeners'),
			_('Where clients connect. Network "lan" binds every LAN address. "*" binds all networks including WAN: use it only with TLS and strong passwords.'));
		s.addremove = true;
		s.anonymous = true;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'port', _('Port'));
		o.datatype = 'port';
		o.rmempty = false;
		o.placeholder = '1883';

		o = s.option(form.ListValue, 'protocol', _('Protocol'));
		o.value('mqtt', 'MQTT');
		o.value('websockets', _('MQTT over WebSockets'));
		o.default = 'mqtt';

		o = s.option(form.Value, 'interface', _('Network'));
		o.value('lan', 'lan');
		o.value('*', _('* (all networks, including WAN)'));
		o.default = 'lan';
		o.validate = function(section_id, value) {
			if (value !== '' && value !== '*' && !/^[A-Za-z0-9_]+$/.test(value))
				return _('A network name such as lan, or *');
			return true;
		};

		o = s.option(form.Value, 'address', _('Address'), _('Bind this address only, instead of the network\'s.'));
		o.datatype = 'ipaddr';

		o = s.option(form.Value, 'certfile', _('TLS certificate'));
		o.placeholder = '/etc/mqttd/server.crt';

		o = s.option(form.Value, 'keyfile', _('TLS key'));
		o.placeholder = '/etc/mqttd/server.key';

		return m.render();
	}
});
