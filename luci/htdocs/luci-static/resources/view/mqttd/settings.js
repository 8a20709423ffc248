'use strict';
'require view';
'require form';
'require mqttd.topicfilter as topicfilter';

// Bridge values are checked here by the rules of the broker's reader (src/config/ConfigOptions.ts,
// which reads UCI and mosquitto.conf alike) for a quick answer; the broker checks them again
// when it starts, and logs file and line for anything refused.

/** `host[:port] …`, as mosquitto's `address`; IPv6 as [address]:port. */
function validateAddress(section_id, value) {
	if (value == null || value === '')
		return true;
	var words = String(value).trim().split(/[ \t]+/);
	for (var i = 0; i < words.length; i++) {
		var w = words[i], host = w, port = null, m = /^\[([^\]]+)\](?::(.*))?$/.exec(w);
		if (m) {
			host = m[1];
			port = m[2] != null ? m[2] : null;
		}
		else if (w.indexOf(':') !== w.lastIndexOf(':')) {
			return _('Write an IPv6 address in brackets: [%s]:1883').format(w);
		}
		else if (w.indexOf(':') >= 0) {
			host = w.slice(0, w.indexOf(':'));
			port = w.slice(w.indexOf(':') + 1);
		}
		if (host === '')
			return _('Expecting host:port, e.g. broker.example.com:8883');
		if (port !== null && !(/^\d+$/.test(port) && +port >= 1 && +port <= 65535))
			return _('The port of %s must be 1 to 65535').format(w);
	}
	return true;
}

/** `pattern [in|out|both [qos [local-prefix [remote-prefix]]]]`, "" for empty, as mosquitto's `topic`. */
function validateTopic(section_id, value) {
	if (value == null || value === '')
		return true;
	var w = String(value).trim().split(/[ \t]+/);
	// After the pattern, a word starting with # begins a comment, as mosquitto reads the line.
	for (var i = 1; i < w.length; i++)
		if (w[i].charAt(0) === '#') { w = w.slice(0, i); break; }
	if (w.length > 5)
		return _('At most: pattern direction qos local-prefix remote-prefix');
	if (w.length > 1 && !/^(in|out|both)$/i.test(w[1]))
		return _('Direction must be in, out or both, not "%s"').format(w[1]);
	if (w.length > 2 && !(/^[+-]?\d+$/.test(w[2]) && +w[2] >= 0 && +w[2] <= 2))
		return _('QoS must be 0, 1 or 2, not "%s"').format(w[2]);
	var local = (w[3] == null || w[3] === '""') ? null : w[3];
	var remote = (w[4] == null || w[4] === '""') ? null : w[4];
	if ((local && /[+#]/.test(local)) || (remote && /[+#]/.test(remote)))
		return _('A prefix is a topic: no + or #');
	if (w[0] === '""') {
		if (local === null || remote === null)
			return _('An empty ("") pattern needs both a local and a remote prefix');
		return true;
	}
	var e = topicfilter.error(w[0]) || (local && topicfilter.error(local + w[0])) || (remote && topicfilter.error(remote + w[0]));
	return e ? _('Invalid pattern: %s').format(e) : true;
}

/** `<base>` or `<base> <cap>`, seconds. */
function validateRestart(section_id, value) {
	if (value == null || value === '')
		return true;
	var m = /^\s*(\d+)(?:\s+(\d+))?\s*$/.exec(value);
	if (!m || +m[1] < 1)
		return _('Expecting seconds: "5" or "5 30" (base and cap)');
	if (m[2] != null && +m[2] < +m[1])
		return _('The cap must not be lower than the base');
	return true;
}

/**
 * A whole number from min to max, or 0 (no limit), as the broker's UCI reader takes it
 * (SectionReader.int: digits only, no fraction, no exponent).
 */
function validateWhole(min, max) {
	return function(section_id, value) {
		if (value == null || value === '')
			return true;
		if (!/^\d+$/.test(value) || (+value !== 0 && +value < min) || +value > max)
			return min > 0
				? _('Expecting 0 or a whole number from %d to %d').format(min, max)
				: _('Expecting a whole number from 0 to %d').format(max);
		return true;
	};
}

function validatePublishTopic(section_id, value) {
	if (value == null || value === '')
		return true;
	return /[+#]/.test(value) ? _('A topic, without + or #') : true;
}

// Services > MQTT Broker > Settings: UCI /etc/config/mqttd. Saving commits UCI; the init
// script's reload trigger then restarts mqttd (listeners and limits need a restart).
return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('mqttd', _('MQTT Broker'),
			_('mqttd, an MQTT broker that reads mosquitto\'s files. Users and access rules are on their own pages.'));

		s = m.section(form.NamedSection, 'general', 'mqttd', _('General'));
		s.tab('general', _('General'));
		s.tab('limits', _('Limits'),
			_('What one client can make the broker hold. Left empty, an option has the router default shown; 0 means no limit.'));

		o = s.taboption('general', form.Flag, 'allow_anonymous', _('Allow anonymous clients'),
			_('Clients without a username may connect. Their access is the ACL\'s anonymous rules.'));
		o.default = '0';
		o.rmempty = false;

		o = s.taboption('general', form.Flag, 'persistence', _('Persistence'),
			_('Keep retained messages and persistent sessions across restarts.'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.Value, 'autosave_interval', _('Autosave interval (s)'),
			_('How often the store is written when something changed. Longer saves flash.'));
		o.datatype = 'uinteger';
		o.placeholder = '1800';

		o = s.taboption('general', form.Value, 'max_connections', _('Maximum connections'), _('-1: no limit.'));
		o.datatype = 'integer';
		o.placeholder = '-1';

		o = s.taboption('general', form.Flag, 'acl_pattern_allow_slash', _('Allow "/" in %c and %u'),
			_('As mosquitto: a client id or username with "/" in it can then reach other topics through ACL patterns. Off: such a client matches no pattern.'));
		o.default = '0';

		o = s.taboption('general', form.ListValue, 'log_level', _('Log level'), _('Messages go to the system log (logread).'));
		o.value('error', _('Errors'));
		o.value('warning', _('Warnings'));
		o.value('notice', _('Notices'));
		o.value('information', _('Information'));
		o.value('debug', _('Debug'));
		o.default = 'notice';

		// The router defaults are UciConfig.ts's ROUTER_LIMITS (and the shipped /etc/config/mqttd);
		// the ranges are src/config/integerRanges.ts.
		[
			[ 'message_size_limit', _('Largest message (bytes)'), '262144', 268435455, _('Payload of one PUBLISH.') ],
			[ 'max_packet_size', _('Largest packet (bytes)'), '524288', 268435460, _('Any packet, topic and properties included; 0: MQTT\'s own limit (256 MB).') ],
			[ 'memory_limit', _('Memory for messages (bytes)'), '33554432', 9007199254740991, _('Retained and queued messages, subscriptions and packets being read, all clients together; beyond it new messages are refused.') ],
			[ 'max_queued_messages', _('Queued messages per client'), '1000', 2147483647, _('QoS 1 and 2 messages held for a client that is offline or slow.') ],
			[ 'max_queued_bytes', _('Queued bytes per client'), '1048576', 2147483647, null ],
			[ 'max_persistent_sessions', _('Persistent sessions'), '1000', 2147483647, _('Sessions kept for clients that are offline; a new one beyond is refused.') ],
			[ 'persistent_client_expiration', _('Offline session kept for (s)'), '604800', 315360000, _('MQTT 5 Session Expiry is capped at this too.') ],
			[ 'max_retained_messages', _('Retained messages'), '10000', 2147483647, null ],
			[ 'max_retained_bytes', _('Retained bytes'), '16777216', 9007199254740991, null ],
			[ 'max_subscriptions_per_client', _('Subscriptions per client'), '1000', 2147483647, null ]
		].forEach(function(l) {
			o = s.taboption('limits', form.Value, l[0], l[1], l[4]);
			o.validate = validateWhole(l[0] === 'max_packet_size' ? 20 : 0, l[3]);
			o.placeholder = l[2];
		});

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

		s = m.section(form.TypedSection, 'bridge', _('Bridges'),
			_('Connect this broker to another one (a cloud service, another site) and carry chosen topics between them. The options are mosquitto\'s bridge options; the section name is the connection name.'));
		s.addremove = true;
		s.anonymous = false;
		s.addbtntitle = _('Add bridge');

		s.tab('general', _('Connection'));
		s.tab('topics', _('Topics'));
		s.tab('tls', _('TLS'));
		s.tab('advanced', _('Advanced'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.DynamicList, 'address', _('Remote broker'),
			_('host:port (1883 if no port; IPv6 as [address]:port). Several addresses are tried in this order.'));
		o.placeholder = 'broker.example.com:8883';
		o.rmempty = false;
		o.validate = validateAddress;

		o = s.taboption('general', form.Value, 'remote_username', _('Remote username'));

		o = s.taboption('general', form.Value, 'remote_password', _('Remote password'),
			_('Stored on the router and never shown here again: leave empty to keep the stored one.'));
		o.password = true;
		// The stored password is not put back into the page.
		o.cfgvalue = function(section_id) { return null; };
		o.remove = function(section_id) {};

		o = s.taboption('general', form.Flag, 'clear_remote_password', _('Remove the stored password'));
		o.default = '0';
		o.cfgvalue = function(section_id) { return '0'; };
		o.write = function(section_id, value) {
			if (value === '1')
				this.map.data.unset('mqttd', section_id, 'remote_password');
		};
		o.remove = function(section_id) {};

		o = s.taboption('general', form.Value, 'remote_clientid', _('Remote client ID'),
			_('Must be unique on the remote broker. Default: &lt;hostname&gt;.&lt;bridge name&gt;.'));

		o = s.taboption('general', form.ListValue, 'bridge_protocol_version', _('Protocol'));
		o.value('mqttv311', 'MQTT 3.1.1');
		o.value('mqttv50', 'MQTT 5.0');
		o.default = 'mqttv311';

		o = s.taboption('topics', form.DynamicList, 'topic', _('Topics'),
			_('<code>pattern direction qos local-prefix remote-prefix</code>, e.g. <code>sensors/# out 1 "" router1/</code>: direction in, out or both (default out), QoS 0-2 (default 0), <code>""</code> for an empty prefix or pattern.'));
		o.placeholder = 'sensors/# out 1 "" router1/';
		o.rmempty = false;
		o.validate = validateTopic;

		o = s.taboption('topics', form.Flag, 'bridge_outgoing_retain', _('Keep retain flag on outgoing messages'));
		o.default = '1';

		o = s.taboption('tls', form.Value, 'bridge_cafile', _('CA certificates'),
			_('Setting this (or a CA directory) turns TLS on.'));
		o.placeholder = '/etc/ssl/certs/ca-certificates.crt';

		o = s.taboption('tls', form.Value, 'bridge_capath', _('CA directory'));
		o.placeholder = '/etc/ssl/certs';

		o = s.taboption('tls', form.Value, 'bridge_certfile', _('Client certificate'), _('Only for remotes that require one; needs the key too.'));

		o = s.taboption('tls', form.Value, 'bridge_keyfile', _('Client key'));

		o = s.taboption('tls', form.Flag, 'bridge_insecure', _('Do not check the host name'),
			_('The certificate chain is still verified. For testing only.'));
		o.default = '0';

		o = s.taboption('advanced', form.Value, 'connection', _('Connection name'),
			_('Instead of the section name, e.g. to use characters a section name cannot hold.'));
		o.validate = function(section_id, value) {
			return /\s/.test(value) ? _('One word, without spaces') : true;
		};

		o = s.taboption('advanced', form.Value, 'local_clientid', _('Local client ID'),
			_('The bridge\'s identity on this broker. Default: local.&lt;remote client ID&gt;.'));

		o = s.taboption('advanced', form.Flag, 'cleansession', _('Clean session'),
			_('Off: the remote keeps the bridge\'s subscriptions and queues messages while it is away.'));
		o.default = '0';

		o = s.taboption('advanced', form.Value, 'keepalive_interval', _('Keepalive (s)'));
		o.datatype = 'range(5,65535)';
		o.placeholder = '60';

		o = s.taboption('advanced', form.Value, 'restart_timeout', _('Retry after (s)'),
			_('"base cap": a random wait growing from base to cap; one number: a constant wait.'));
		o.placeholder = '5 30';
		o.validate = validateRestart;

		o = s.taboption('advanced', form.Flag, 'round_robin', _('Round robin'),
			_('Off: return to the first address once it answers again. On: stay on the address that works.'));
		o.default = '0';

		o = s.taboption('advanced', form.Flag, 'try_private', _('Announce as a bridge'),
			_('MQTT 3.1.1: tells mosquitto not to send this router\'s own messages back.'));
		o.default = '1';

		o = s.taboption('advanced', form.Flag, 'notifications', _('State notifications'),
			_('Publish 1 (connected) or 0, retained, on both brokers.'));
		o.default = '1';

		o = s.taboption('advanced', form.Value, 'notification_topic', _('Notification topic'));
		o.placeholder = '$SYS/broker/connection/<remote client ID>/state';
		o.validate = validatePublishTopic;

		// mosquitto.conf's name; older configs may say max_queued_messages, which is read as the same.
		o = s.taboption('advanced', form.Value, 'bridge_max_queued_messages', _('Queue limit'),
			_('QoS 1 and 2 messages held while the remote is unreachable; 0: no limit.'));
		o.datatype = 'uinteger';
		o.placeholder = '1000';
		o.cfgvalue = function(section_id) {
			var data = this.map.data;
			return data.get('mqttd', section_id, 'bridge_max_queued_messages') || data.get('mqttd', section_id, 'max_queued_messages');
		};
		o.write = function(section_id, value) {
			this.map.data.unset('mqttd', section_id, 'max_queued_messages');
			this.map.data.set('mqttd', section_id, 'bridge_max_queued_messages', value);
		};
		o.remove = function(section_id) {
			this.map.data.unset('mqttd', section_id, 'max_queued_messages');
			this.map.data.unset('mqttd', section_id, 'bridge_max_queued_messages');
		};

		return m.render();
	}
});
