'use strict';
'require view';
'require rpc';
'require poll';
'require ui';
'require mqttd.payload as payload';
'require mqttd.dom as dom';

// Services > MQTT Broker > Clients: who is connected, what each one listens to, and how far
// behind it is; offline persistent sessions with what is queued for them.
var callClients = rpc.declare({ object: 'mqttd.explorer', method: 'clients', expect: { '': {} } });
var callDisconnect = rpc.declare({ object: 'mqttd.explorer', method: 'disconnect', params: [ 'client_id' ], expect: { '': {} } });
var callRemoveSession = rpc.declare({ object: 'mqttd.explorer', method: 'remove_session', params: [ 'client_id' ], expect: { '': {} } });

var PROTOCOLS = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' };

var text = dom.text;

function when(ms) {
	return ms ? new Date(ms).toLocaleString() : '-';
}

function expiry(s) {
	return s < 0 ? _('never (v3 persistent)') : s === 0 ? _('at disconnect') : _('%d s').format(s);
}

/** One subscription per line: filter, QoS and the MQTT 5 options that differ from the defaults. */
function subscriptions(list) {
	if (!list.length)
		return E('em', {}, _('none'));
	return E('div', {}, list.map(function(s) {
		var opts = [ 'QoS ' + s.qos ];
		if (s.no_local) opts.push(_('no local'));
		if (s.retain_as_published) opts.push(_('retain as published'));
		if (s.retain_handling) opts.push(_('retain handling %d').format(s.retain_handling));
		if (s.subscription_id != null) opts.push(_('id %d').format(s.subscription_id));
		return E('div', { 'class': 'mqttd-subscription', 'data-filter': s.filter }, [ E('code', {}, [ text(s.filter) ]), text(' ' + opts.join(', ')) ]);
	}));
}

function table(id, titles, rows, empty) {
	return E('table', { 'class': 'table', 'id': id }, [
		E('tr', { 'class': 'tr table-titles' }, titles.map(function(t) { return E('th', { 'class': 'th' }, t); }))
	].concat(rows.length ? rows : [ E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', 'colspan': titles.length }, [ E('em', {}, empty) ]) ]) ]));
}

function cells(titles, values) {
	return values.map(function(v, i) { return E('td', { 'class': 'td', 'data-title': titles[i] }, [ v instanceof Node ? v : text(v) ]); });
}

return view.extend({
	load: function() {
		return callClients();
	},

	act: function(call, id, question, done) {
		var self = this;
		if (!confirm(question))
			return Promise.resolve();
		return call(id).then(function(r) {
			if (r.error)
				return ui.addNotification(null, E('p', {}, [ text(r.error) ]), 'danger');
			ui.addNotification(null, E('p', {}, [ text(done) ]));
			return callClients().then(function(r) { self.update(r); });
		});
	},

	draw: function(reply) {
		var self = this;
		if (reply.error)
			return E('div', { 'id': 'mqttd-clients-view' }, [ E('div', { 'class': 'alert-message danger' }, [ text(reply.error) ]) ]);
		var ct = [ _('Client ID'), _('Username'), _('Address'), _('Protocol'), _('Connected since'), _('Subscriptions'), _('In flight'), _('Queued'), _('Bytes in / out'), '' ];
		var connected = (reply.connected || []).map(function(c) {
			return E('tr', { 'class': 'tr', 'data-client-id': c.client_id }, cells(ct, [
				c.client_id, c.username == null ? _('(anonymous)') : c.username, c.address, PROTOCOLS[c.protocol] || c.protocol, when(c.connected_at),
				subscriptions(c.subscriptions), c.inflight, c.queued, payload.size(c.bytes_in) + ' / ' + payload.size(c.bytes_out),
				E('button', { 'class': 'cbi-button cbi-button-remove mqttd-disconnect', 'click': function() {
					return self.act(callDisconnect, c.client_id, _('Disconnect %s? Its will message, if any, is published; it may reconnect.').format(c.client_id), _('%s disconnected.').format(c.client_id));
				} }, _('Disconnect'))
			]));
		});
		var ot = [ _('Client ID'), _('Username'), _('Disconnected since'), _('Session expiry'), _('Subscriptions'), _('Queued'), '' ];
		var offline = (reply.offline || []).map(function(c) {
			return E('tr', { 'class': 'tr', 'data-client-id': c.client_id }, cells(ot, [
				c.client_id, c.username == null ? _('(anonymous)') : c.username, when(c.disconnected_at), expiry(c.session_expiry),
				subscriptions(c.subscriptions), c.queued + c.inflight,
				E('button', { 'class': 'cbi-button cbi-button-remove mqttd-remove-session', 'click': function() {
					return self.act(callRemoveSession, c.client_id, _('Remove the session of %s? Its subscriptions and queued messages are dropped.').format(c.client_id), _('Session of %s removed.').format(c.client_id));
				} }, _('Remove'))
			]));
		});
		return E('div', { 'id': 'mqttd-clients-view' }, [
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Connected clients')), table('mqttd-connected', ct, connected, _('No client is connected.')) ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Offline persistent sessions')), table('mqttd-offline', ot, offline, _('No offline session.')) ])
		]);
	},

	update: function(reply) {
		var node = document.getElementById('mqttd-clients-view');
		if (node)
			node.parentNode.replaceChild(this.draw(reply), node);
	},

	render: function(reply) {
		var self = this;
		poll.add(function() { return document.hidden ? null : callClients().then(function(r) { self.update(r); }); }, 5);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Clients')),
			E('div', { 'class': 'cbi-map-descr' }, _('In flight: QoS 1/2 messages sent and not yet acknowledged. Queued: messages waiting for the client (its receive window, or while it is offline).')),
			this.draw(reply)
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
