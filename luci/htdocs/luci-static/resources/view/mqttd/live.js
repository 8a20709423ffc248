'use strict';
'require view';
'require rpc';
'require mqttd.payload as payload';
'require mqttd.dom as dom';

// Services > MQTT Broker > Live: messages as they arrive. The page polls the broker twice a
// second with a cursor (the number of the last message it has); the broker keeps one shared
// history of its last 200 messages, so each poll is one small rpcd call and the broker holds
// no state per page. Polling stops while paused or while the tab is hidden.
var callLive = rpc.declare({ object: 'mqttd.explorer', method: 'live', params: [ 'filter', 'cursor' ], expect: { '': {} } });

var POLL_MS = 500;
var ERROR_POLL_MS = 5000;
var TITLES = [ _('Received'), _('Topic'), _('Payload'), _('Size'), _('QoS'), _('Retained') ];

var text = dom.text;

return view.extend({
	cursor: undefined,
	paused: false,
	count: 0,

	load: function() {
		return Promise.resolve();
	},

	limit: function() {
		return +this.historySelect.value;
	},

	addMessages: function(messages) {
		var body = this.tbody;
		var placeholder = body.querySelector('.placeholder');
		if (messages.length && placeholder)
			placeholder.remove();
		for (var i = 0; i < messages.length; i++) {
			var m = messages[i];
			// Newest first; the row's <pre> shows JSON pretty-printed, binary as hex.
			// data-at (broker receipt) and data-shown (on screen), both ms: the latency, for measuring.
			body.insertBefore(E('tr', { 'class': 'tr mqttd-live-message', 'data-topic': m.topic, 'data-seq': m.seq, 'data-at': m.at, 'data-shown': Date.now() }, [
				E('td', { 'class': 'td', 'style': 'white-space:nowrap' }, [ text(payload.time(m.at)) ]),
				E('td', { 'class': 'td', 'style': 'word-break:break-all' }, [ text(m.topic) ]),
				E('td', { 'class': 'td' }, [ m.size ? payload.block(m, 'auto') : E('em', {}, _('(empty)')) ]),
				E('td', { 'class': 'td' }, [ text(payload.size(m.size)) ]),
				E('td', { 'class': 'td' }, [ text(m.qos) ]),
				E('td', { 'class': 'td' }, [ text(m.retain ? _('yes') : _('no')) ])
			]), body.firstChild);
			this.count++;
		}
		// A bounded history: the oldest rows go.
		var rows = body.querySelectorAll('tr.mqttd-live-message');
		for (var j = this.limit(); j < rows.length; j++)
			rows[j].remove();
	},

	/**
	 * One poll at a time, so no message is shown twice: a request made while one is under way
	 * (Watch, Resume, the tab shown again) runs when it returns.
	 */
	poll: function() {
		var self = this, delay = POLL_MS;
		window.clearTimeout(this.timer);
		if (this.busy) {
			this.again = true;
			return Promise.resolve();
		}
		if (this.paused || document.hidden)
			return Promise.resolve();
		this.busy = true;
		return callLive(this.filter, this.cursor).then(function(r) {
			self.errorBox.replaceChildren();
			if (r.error) {
				// The broker is down or restarting: ask less often until it answers.
				delay = ERROR_POLL_MS;
				self.errorBox.appendChild(E('div', { 'class': 'alert-message danger' }, [ text(r.error) ]));
				return;
			}
			// The first poll only learns where the history ends: the view shows what comes after.
			if (self.cursor !== undefined) {
				if (r.missed > 0)
					self.errorBox.appendChild(E('div', { 'class': 'alert-message warning' }, [ text(_('%d messages arrived faster than the page could show them and were skipped.').format(r.missed)) ]));
				self.addMessages(r.messages || []);
			}
			self.cursor = r.cursor;
			self.status.setAttribute('data-cursor', r.cursor);
			// A full batch: more are waiting, fetch them now.
			if (r.messages && r.messages.length >= 100)
				self.again = true;
		}, function(err) {
			delay = ERROR_POLL_MS;
			self.errorBox.replaceChildren(E('div', { 'class': 'alert-message danger' }, [ text(err.message) ]));
		}).then(function() {
			self.busy = false;
			if (self.again) {
				self.again = false;
				return self.poll();
			}
			if (!self.paused)
				self.timer = window.setTimeout(function() { self.poll(); }, delay);
		});
	},

	watch: function() {
		var filter = this.filterInput.value.trim() || '#';
		this.filter = filter;
		this.status.textContent = _('Watching %s').format(filter);
		this.poll();
	},

	togglePause: function() {
		this.paused = !this.paused;
		this.pauseButton.textContent = this.paused ? _('Resume') : _('Pause');
		this.pauseButton.setAttribute('data-paused', this.paused ? '1' : '0');
		this.status.textContent = this.paused ? _('Paused') : _('Watching %s').format(this.filter);
		if (!this.paused)
			this.poll();
	},

	render: function() {
		var self = this;
		this.filterInput = E('input', { 'type': 'text', 'id': 'mqttd-live-filter', 'value': '#', 'style': 'width:320px', 'keydown': function(ev) {
			if (ev.key === 'Enter') self.watch();
		} });
		this.historySelect = E('select', { 'id': 'mqttd-live-history' }, [ 50, 200, 1000 ].map(function(n) {
			return E('option', { 'value': n, 'selected': n === 200 ? 'selected' : null }, _('Keep %d').format(n));
		}));
		this.pauseButton = E('button', { 'class': 'cbi-button', 'id': 'mqttd-live-pause', 'data-paused': '0', 'click': function() { self.togglePause(); } }, _('Pause'));
		this.status = E('span', { 'id': 'mqttd-live-status', 'style': 'margin-left:8px;color:#666' });
		this.errorBox = E('div', { 'id': 'mqttd-live-error' });
		this.tbody = E('tbody', {}, [ E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', 'colspan': TITLES.length }, [ E('em', {}, _('Waiting for messages…')) ]) ]) ]);
		document.addEventListener('visibilitychange', function() { if (!document.hidden) self.poll(); });
		this.watch();
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Live')),
			E('div', { 'class': 'cbi-map-descr' }, _('Messages on the topics that match the filter, newest first, as the broker routes them (retained and not). $SYS topics need a filter starting with $SYS/.')),
			E('div', { 'style': 'display:flex;gap:8px;align-items:center;margin-bottom:8px' }, [
				this.filterInput,
				E('button', { 'class': 'cbi-button cbi-button-apply', 'id': 'mqttd-live-watch', 'click': function() { self.watch(); } }, _('Watch')),
				this.pauseButton,
				E('button', { 'class': 'cbi-button', 'id': 'mqttd-live-clear', 'click': function() {
					self.tbody.querySelectorAll('tr.mqttd-live-message').forEach(function(r) { r.remove(); });
				} }, _('Clear')),
				this.historySelect, this.status
			]),
			this.errorBox,
			E('table', { 'class': 'table', 'id': 'mqttd-live' }, [
				E('thead', {}, [ E('tr', { 'class': 'tr table-titles' }, TITLES.map(function(t) { return E('th', { 'class': 'th' }, t); })) ]),
				this.tbody
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
