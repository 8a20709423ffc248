'use strict';
'require view';
'require rpc';
'require poll';
'require ui';
'require mqttd.payload as payload';
'require mqttd.dom as dom';

// Services > MQTT Broker > Topics: the topic tree as the broker holds it (retained topics, and
// topics that carried a message since a page started watching). Only the levels the user
// expanded are asked for and drawn, so 10,000 retained topics cost what is on screen.
var callTopics = rpc.declare({ object: 'mqttd.explorer', method: 'topics', params: [ 'expanded', 'filter', 'search' ], expect: { '': {} } });
var callTopic = rpc.declare({ object: 'mqttd.explorer', method: 'topic', params: [ 'topic' ], expect: { '': {} } });
var callPublish = rpc.declare({ object: 'mqttd.explorer', method: 'publish', params: [ 'topic', 'payload', 'qos', 'retain' ], expect: { '': {} } });

var TITLES = [ _('Topic'), _('Last payload'), _('Size'), _('QoS'), _('Retained'), _('Last changed'), _('Messages / min') ];

var text = dom.text;

function key(path) {
	return JSON.stringify(path);
}

return view.extend({
	expanded: null,
	selected: null,
	mode: 'auto',

	load: function() {
		return callTopics([ [] ]);
	},

	/** Every expanded path whose parents are expanded too (a collapsed parent hides its children). */
	visiblePaths: function() {
		var self = this;
		return Object.keys(this.expanded).map(JSON.parse).filter(function(path) {
			for (var i = 0; i < path.length; i++)
				if (!self.expanded[key(path.slice(0, i))])
					return false;
			return true;
		});
	},

	query: function() {
		var filter = this.filterInput.value.trim(), search = this.searchInput.value.trim();
		if (filter !== '' || search !== '')
			return callTopics(undefined, filter || undefined, search || undefined);
		return callTopics(this.visiblePaths());
	},

	refresh: function() {
		var self = this;
		return this.query().then(function(reply) {
			self.draw(reply);
			return self.selected != null ? self.showDetail(self.selected) : null;
		});
	},

	cells: function(topic, label, depth, message, toggle) {
		var m = message;
		return [
			E('td', { 'class': 'td', 'style': 'padding-left:' + (6 + depth * 18) + 'px;white-space:nowrap' }, [
				toggle || E('span', { 'style': 'display:inline-block;width:18px' }),
				E('span', { 'class': 'mqttd-topic-name' }, [ text(label) ])
			]),
			E('td', { 'class': 'td mqttd-summary', 'style': 'font-family:monospace;word-break:break-all' }, [ text(m ? payload.summary(m) : '') ]),
			E('td', { 'class': 'td' }, [ text(m ? payload.size(m.size) : '') ]),
			E('td', { 'class': 'td' }, [ text(m ? m.qos : '') ]),
			E('td', { 'class': 'td' }, [ text(m ? (m.retain ? _('yes') : _('no')) : '') ]),
			E('td', { 'class': 'td' }, [ text(m ? payload.time(m.changed) : '') ]),
			E('td', { 'class': 'td' }, [ text(m ? m.rate : '') ])
		];
	},

	row: function(topic, label, depth, message, toggle) {
		var self = this;
		var tr = E('tr', { 'class': 'tr' + (topic === this.selected ? ' selected' : ''), 'data-topic': topic,
			'style': topic === this.selected ? 'background:#e3f2fd' : null }, this.cells(topic, label, depth, message, toggle));
		if (message) {
			tr.style.cursor = 'pointer';
			tr.addEventListener('click', function(ev) {
				if (ev.target.closest('.mqttd-toggle'))
					return;
				ev.preventDefault();
				if (self.selected !== topic)
					self.detail.replaceChildren();
				self.selected = topic;
				self.refresh();
			});
		}
		return tr;
	},

	treeRows: function(levels, path, depth, rows) {
		var self = this, level = levels[key(path)];
		if (!level)
			return rows;
		level.nodes.forEach(function(node) {
			var child = path.concat([ node.name ]), topic = child.join('/');
			var hasChildren = node.topics > (node.message ? 1 : 0), open = !!self.expanded[key(child)];
			var toggle = hasChildren ? E('span', { 'class': 'mqttd-toggle', 'data-path': key(child), 'style': 'display:inline-block;width:18px;cursor:pointer;font-family:monospace',
				'title': open ? _('Collapse') : _('Expand'), 'click': function(ev) {
					ev.stopPropagation();
					if (open) delete self.expanded[key(child)];
					else self.expanded[key(child)] = true;
					self.refresh();
				} }, [ text(open ? '▾' : '▸') ]) : null;
			var label = (node.name === '' ? _('(empty level)') : node.name) + (hasChildren ? ' (' + (node.topics - (node.message ? 1 : 0)) + ')' : '');
			rows.push(self.row(topic, label, depth, node.message, toggle));
			if (open && hasChildren)
				self.treeRows(levels, child, depth + 1, rows);
		});
		if (level.more > 0)
			rows.push(E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td', 'colspan': TITLES.length, 'style': 'padding-left:' + (24 + depth * 18) + 'px' },
				[ E('em', {}, _('%d more: use the filter or search to find them.').format(level.more)) ]) ]));
		return rows;
	},

	draw: function(reply) {
		var rows, info = '';
		this.errorBox.replaceChildren();
		if (reply.error) {
			this.errorBox.appendChild(E('div', { 'class': 'alert-message danger' }, [ text(reply.error) ]));
			return;
		}
		if (reply.matches) {
			var self = this;
			rows = reply.matches.map(function(m) { return self.row(m.topic, m.topic, 0, m, null); });
			info = (reply.total === 1 ? _('1 matching topic') : _('%d matching topics').format(reply.total)) + (reply.total > reply.matches.length ? ' ' + _('(first %d shown)').format(reply.matches.length) : '');
		} else {
			var levels = {};
			(reply.levels || []).forEach(function(l) { levels[key(l.path)] = l; });
			rows = this.treeRows(levels, [], 0, []);
		}
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', 'colspan': TITLES.length }, [ E('em', {}, reply.matches
				? _('No topic matches.')
				: _('No topic yet: nothing is retained and nothing was published since this page opened.')) ]) ]) ];
		this.info.textContent = info;
		this.table.replaceChildren.apply(this.table, [ E('tr', { 'class': 'tr table-titles' }, TITLES.map(function(t) { return E('th', { 'class': 'th' }, t); })) ].concat(rows));
	},

	showDetail: function(topic) {
		var self = this;
		return callTopic(topic).then(function(reply) {
			var m = reply.message;
			if (!m) {
				self.selected = null;
				self.detail.replaceChildren();
				return;
			}
			var modes = [ [ 'auto', _('Auto') ], [ 'text', _('Text') ], [ 'json', _('JSON') ], [ 'hex', _('Hex') ] ];
			self.detail.replaceChildren(
				E('h3', {}, [ text(_('Topic %s').format(m.topic)) ]),
				E('div', { 'class': 'mqttd-detail-meta' }, [ text(_('%s, QoS %d, %s, last changed %s, %d messages in the last minute%s').format(
					payload.size(m.size), m.qos, m.retain ? _('retained') : _('not retained'), payload.time(m.changed), m.rate,
					m.content_type ? ', ' + _('content type %s').format(m.content_type) : '')) ]),
				E('div', { 'style': 'margin:6px 0' }, modes.map(function(md) {
					return E('button', { 'class': 'cbi-button' + (self.mode === md[0] ? ' cbi-button-save' : ''), 'data-mode': md[0], 'click': function() {
						self.mode = md[0];
						self.showDetail(topic);
					} }, md[1]);
				}).concat(m.retain ? [ E('button', { 'class': 'cbi-button cbi-button-remove', 'id': 'mqttd-clear-retained', 'style': 'margin-left:12px', 'click': function() {
					return self.clearRetained(m.topic);
				} }, _('Clear retained')) ] : [])),
				payload.block(m, self.mode));
		});
	},

	clearRetained: function(topic) {
		var self = this;
		if (!confirm(_('Clear the retained message of %s? Subscribers will no longer receive it on subscribing.').format(topic)))
			return;
		return callPublish(topic, '', 0, true).then(function(r) {
			if (r.error)
				return ui.addNotification(null, E('p', {}, [ text(r.error) ]), 'danger');
			ui.addNotification(null, E('p', {}, [ text(_('Retained message of %s cleared.').format(topic)) ]));
			self.selected = null;
			self.detail.replaceChildren();
			return self.refresh();
		});
	},

	render: function(reply) {
		var self = this, timer = null;
		this.expanded = {};
		this.expanded[key([])] = true;
		var changed = function() {
			window.clearTimeout(timer);
			timer = window.setTimeout(function() { self.refresh(); }, 300);
		};
		this.filterInput = E('input', { 'type': 'text', 'id': 'mqttd-topic-filter', 'placeholder': _('Topic filter, e.g. home/+/temperature or sensors/#'), 'style': 'width:320px', 'input': changed });
		this.searchInput = E('input', { 'type': 'text', 'id': 'mqttd-topic-search', 'placeholder': _('Search topic names'), 'style': 'width:220px', 'input': changed });
		this.errorBox = E('div', { 'id': 'mqttd-topics-error' });
		this.info = E('div', { 'id': 'mqttd-topics-info', 'class': 'cbi-section-descr' });
		this.table = E('table', { 'class': 'table', 'id': 'mqttd-topics' });
		this.detail = E('div', { 'id': 'mqttd-topic-detail', 'class': 'cbi-section' });
		this.draw(reply);
		// A hidden tab asks nothing (and after 30 s the broker stops watching for it).
		poll.add(function() { return document.hidden ? null : self.refresh(); }, 3);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Topics')),
			E('div', { 'class': 'cbi-map-descr' }, _('Retained topics, and every topic that carried a message since this page opened (the broker starts watching when an explorer page is open, and stops 30 seconds after the last one closes). Click a topic to see its last payload.')),
			E('div', { 'style': 'display:flex;gap:8px;margin-bottom:8px' }, [ this.filterInput, this.searchInput ]),
			this.errorBox, this.info, this.table, this.detail
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
