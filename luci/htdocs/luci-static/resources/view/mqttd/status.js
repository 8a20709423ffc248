'use strict';
'require view';
'require rpc';
'require poll';
'require mqttd.dom as dom';

// Services > MQTT Broker > Status. The plugin only reads the broker's status file (RAM), so
// polling every few seconds costs a shell and a cat, not a Node process.
var callStatus = rpc.declare({ object: 'mqttd', method: 'status', expect: { '': {} } });

var text = dom.text, when = dom.when;

function duration(seconds) {
	var d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds % 60);
	return (d ? d + 'd ' : '') + (h ? h + 'h ' : '') + (m ? m + 'm ' : '') + s + 's';
}

var PROTOCOLS = { mqttv31: 'MQTT 3.1', mqttv311: 'MQTT 3.1.1', mqttv5: 'MQTT 5.0' };

function table(id, titles, rows, empty) {
	return E('table', { class: 'table', id: id }, [
		E('tr', { class: 'tr table-titles' }, titles.map(function(t) { return E('th', { class: 'th' }, t); }))
	].concat(rows.length ? rows.map(function(cells) {
		return E('tr', { class: 'tr' }, cells.map(function(c, i) { return E('td', { class: 'td', 'data-title': titles[i] }, [ text(c) ]); }));
	}) : [ E('tr', { class: 'tr placeholder' }, [ E('td', { class: 'td', colspan: titles.length }, [ E('em', {}, empty) ]) ]) ]));
}

var BRIDGE_STATES = {
	connected: [ 'success', _('Connected') ],
	connecting: [ 'notice', _('Connecting') ],
	down: [ 'warning', _('Down') ]
};

/** One row per bridge from the status file's bridges[] (written by the broker every sys_interval). */
function bridgeTable(bridges, empty) {
	var titles = [ _('Name'), _('State'), _('Since'), _('Address'), _('Last error'), _('Messages in / out'), _('Queued'), _('Dropped') ];
	var rows = bridges.map(function(b) {
		var st = BRIDGE_STATES[b.state] || [ 'warning', b.state ];
		var cells = [ text(b.name), E('span', { class: 'label ' + st[0] }, [ text(st[1]) ]), text(when(b.since)), text(b.address || '-'),
			text(b.last_error || '-'), text(b.messages_in + ' / ' + b.messages_out), text(b.queued), text(b.dropped) ];
		return E('tr', { class: 'tr', 'data-bridge': b.name, 'data-state': b.state }, cells.map(function(c, i) {
			return E('td', { class: 'td', 'data-title': titles[i] }, [ c ]);
		}));
	});
	return E('table', { class: 'table', id: 'mqttd-bridges' }, [
		E('tr', { class: 'tr table-titles' }, titles.map(function(t) { return E('th', { class: 'th' }, t); }))
	].concat(rows.length ? rows : [ E('tr', { class: 'tr placeholder' }, [ E('td', { class: 'td', colspan: titles.length }, [ E('em', {}, empty) ]) ]) ]));
}

return view.extend({
	load: function() {
		return callStatus();
	},

	renderStatus: function(reply) {
		var st = (reply && reply.status) || {};
		var running = !!(reply && reply.running);
		var counts = st.counts || {}, load = st.load || {};
		var now = Math.floor(Date.now() / 1000);

		var summary = [
			[ _('State'), running ? _('Running') : _('Not running') ],
			[ _('Version'), st.version || '-' ],
			[ _('Process'), running ? st.pid : '-' ],
			[ _('Uptime'), running && st.started ? duration(now - st.started) : '-' ],
			[ _('Clients connected'), running ? counts.clients_connected : '-' ],
			[ _('Clients known (incl. offline sessions)'), running ? counts.clients_total : '-' ],
			[ _('Subscriptions'), running ? counts.subscriptions : '-' ],
			[ _('Retained messages'), running ? counts.retained : '-' ],
			[ _('Messages received / sent'), running ? counts.messages_received + ' / ' + counts.messages_sent : '-' ],
			[ _('Messages per second, last minute (in / out)'), running ? (+load.messages_received_1min || 0).toFixed(1) + ' / ' + (+load.messages_sent_1min || 0).toFixed(1) : '-' ],
			[ _('Status updated'), when(st.updated) ]
		];

		return E('div', { id: 'mqttd-status', 'data-running': running ? '1' : '0' }, [
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Broker')),
				E('table', { class: 'table', id: 'mqttd-summary' }, summary.map(function(r) {
					return E('tr', { class: 'tr' }, [ E('td', { class: 'td left', width: '40%' }, [ E('strong', {}, r[0]) ]),
						E('td', { class: 'td left', 'data-name': r[0] }, [ r[0] === _('State') ? E('span', { class: running ? 'label success' : 'label warning' }, [ text(r[1]) ]) : text(r[1]) ]) ]);
				}))
			]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Connected clients')),
				table('mqttd-clients', [ _('Client ID'), _('Username'), _('Address'), _('Protocol'), _('Connected since') ],
					running ? (st.clients || []).map(function(c) {
						return [ c.client_id, c.username == null ? _('(anonymous)') : c.username, c.address, PROTOCOLS[c.protocol] || c.protocol, when(c.connected_since) ];
					}) : [], running ? _('No client is connected.') : _('The broker is not running.'))
			]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Listeners')),
				table('mqttd-listeners', [ _('Address'), _('Port'), _('Protocol'), _('TLS') ],
					running ? (st.listeners || []).map(function(l) {
						return [ l.address || '*', l.port, l.protocol, l.tls ? _('yes') : _('no') ];
					}) : [], _('None.'))
			]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Bridges')),
				bridgeTable(running ? (st.bridges || []) : [], running ? _('No bridge is configured.') : _('The broker is not running.'))
			])
		]);
	},

	render: function(reply) {
		var self = this;
		poll.add(function() {
			return callStatus().then(function(r) {
				var node = document.getElementById('mqttd-status');
				if (node)
					node.parentNode.replaceChild(self.renderStatus(r), node);
			});
		}, 3);
		return E('div', { class: 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Status')),
			this.renderStatus(reply)
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
