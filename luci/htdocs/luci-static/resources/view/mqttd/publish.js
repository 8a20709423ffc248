'use strict';
'require view';
'require rpc';
'require ui';
'require mqttd.dom as dom';

// Services > MQTT Broker > Publish: a test message, published by the broker itself (as
// `mosquitto_pub` on the router would, but without a user: the ACL of clients is not involved).
var callPublish = rpc.declare({ object: 'mqttd.explorer', method: 'publish', params: [ 'topic', 'payload', 'qos', 'retain', 'content_type' ], expect: { '': {} } });

var text = dom.text;

/** The reason a topic name is refused, or null (MQTT 4.7: no wildcards; $ topics are the broker's). */
function topicProblem(topic) {
	if (topic === '')
		return _('A topic is required.');
	if (/[+#\u0000]/.test(topic))
		return _('A topic name cannot contain +, # or NUL (those are for subscriptions).');
	if (topic.charAt(0) === '$')
		return _('Topics starting with $ are the broker\'s own.');
	return null;
}

function row(title, field, description) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title', 'for': field.id }, title),
		E('div', { 'class': 'cbi-value-field' }, [ field, description ? E('div', { 'class': 'cbi-value-description' }, description) : null ])
	]);
}

return view.extend({
	load: function() {
		return Promise.resolve();
	},

	values: function() {
		return {
			topic: document.getElementById('mqttd-pub-topic').value,
			payload: document.getElementById('mqttd-pub-payload').value,
			qos: +document.getElementById('mqttd-pub-qos').value,
			retain: document.getElementById('mqttd-pub-retain').checked,
			contentType: document.getElementById('mqttd-pub-content-type').value.trim()
		};
	},

	send: function(v, done) {
		var problem = topicProblem(v.topic);
		document.getElementById('mqttd-pub-topic').classList.toggle('cbi-input-invalid', problem !== null);
		if (problem)
			return Promise.resolve(ui.addNotification(null, E('p', {}, [ text(problem) ]), 'danger'));
		return callPublish(v.topic, v.payload, v.qos, v.retain, v.contentType || undefined).then(function(r) {
			if (r.error)
				return ui.addNotification(null, E('p', {}, [ text(r.error) ]), 'danger');
			ui.addNotification(null, E('p', {}, [ text(done) ]));
		}, function(err) {
			ui.addNotification(null, E('p', {}, [ text(err.message) ]), 'danger');
		});
	},

	handlePublish: function() {
		var v = this.values();
		return this.send(v, _('Published to %s (%d bytes, QoS %d%s).').format(v.topic, new TextEncoder().encode(v.payload).length, v.qos, v.retain ? ', ' + _('retained') : ''));
	},

	/** An empty retained message deletes the topic's retained message [MQTT-3.3.1-10]. */
	handleClear: function() {
		var v = this.values();
		if (topicProblem(v.topic) === null && !confirm(_('Clear the retained message of %s?').format(v.topic)))
			return Promise.resolve();
		return this.send({ topic: v.topic, payload: '', qos: 0, retain: true }, _('Retained message of %s cleared.').format(v.topic));
	},

	render: function() {
		var self = this;
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Publish')),
			E('div', { 'class': 'cbi-map-descr' }, _('Publish a test message as the broker. Every subscriber whose filter matches receives it, whatever its ACL allows it to publish.')),
			E('div', { 'class': 'cbi-section' }, [
				row(_('Topic'), E('input', { 'type': 'text', 'id': 'mqttd-pub-topic', 'placeholder': 'home/lamp/set' })),
				row(_('Payload'), E('textarea', { 'id': 'mqttd-pub-payload', 'rows': 5, 'style': 'width:100%;font-family:monospace' }), _('Sent as UTF-8 text.')),
				row(_('QoS'), E('select', { 'id': 'mqttd-pub-qos' }, [ 0, 1, 2 ].map(function(q) { return E('option', { 'value': q }, String(q)); }))),
				row(_('Retain'), E('input', { 'type': 'checkbox', 'id': 'mqttd-pub-retain' }), _('The broker keeps the message and sends it to every new subscriber.')),
				row(_('Content type'), E('input', { 'type': 'text', 'id': 'mqttd-pub-content-type', 'placeholder': 'application/json' }), _('MQTT 5 only: sent to v5 subscribers as the Content Type property.')),
				E('div', { 'class': 'cbi-page-actions' }, [
					E('button', { 'class': 'cbi-button cbi-button-remove', 'id': 'mqttd-pub-clear', 'click': function() { return self.handleClear(); } }, _('Clear retained')),
					' ',
					E('button', { 'class': 'cbi-button cbi-button-apply', 'id': 'mqttd-pub-send', 'click': function() { return self.handlePublish(); } }, _('Publish'))
				])
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
