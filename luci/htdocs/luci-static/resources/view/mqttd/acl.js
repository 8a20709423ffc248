'use strict';
'require view';
'require rpc';
'require ui';
'require mqttd.topicfilter as topicfilter';

// Services > MQTT Broker > ACL: mosquitto's ACL file as three tables (anonymous rules,
// per-user rules, patterns), in file order. Comments are kept with the rule they precede.
// The router checks the file again before it replaces the old one.
var callGetAcl = rpc.declare({ object: 'mqttd', method: 'get_acl', expect: { '': {} } });
var callSetAcl = rpc.declare({ object: 'mqttd', method: 'set_acl', params: [ 'acl' ], expect: { '': {} } });

var ACCESS = [ 'read', 'write', 'readwrite', 'deny' ];

/** Why an ACL rule's topic is refused, or null. */
function filterError(f) {
	if (f === '')
		return _('Enter a topic filter.');
	if (/[\x00-\x1f\x7f]/.test(f))
		return _('A topic filter cannot contain control characters.');
	return topicfilter.error(f);
}

// Text -> { header, anonymous: [rule], users: [{ name, comments, rules }], patterns: [rule], trailer }
function parseAcl(textValue) {
	var acl = { anonymous: [], users: [], patterns: [], trailer: [] };
	var comments = [];
	var user = null;
	(textValue || '').split('\n').forEach(function(raw) {
		var line = raw.replace(/\r$/, '').trim();
		if (line === '')
			return;
		if (line.charAt(0) === '#') {
			comments.push(raw);
			return;
		}
		var m = /^(\S+)\s*(.*)$/.exec(line);
		var word = m[1], rest = m[2];
		if (word === 'user') {
			user = { name: rest, comments: comments, rules: [] };
			acl.users.push(user);
		}
		else {
			var am = /^(read|write|readwrite|deny)\s+(.*)$/.exec(rest);
			var rule = { access: am ? am[1] : 'readwrite', topic: am ? am[2] : rest, comments: comments };
			if (word === 'pattern')
				acl.patterns.push(rule);
			else if (user)
				user.rules.push(rule);
			else
				acl.anonymous.push(rule);
		}
		comments = [];
	});
	acl.trailer = comments;
	return acl;
}

function serializeAcl(acl) {
	var out = [];
	function rules(list, keyword) {
		list.forEach(function(r) {
			out.push.apply(out, r.comments || []);
			out.push(keyword + ' ' + r.access + ' ' + r.topic);
		});
	}
	rules(acl.anonymous, 'topic');
	// A pattern applies to every client wherever it stands; it is kept before the user blocks.
	rules(acl.patterns, 'pattern');
	acl.users.forEach(function(u) {
		out.push('');
		out.push.apply(out, u.comments || []);
		out.push('user ' + u.name);
		rules(u.rules, 'topic');
	});
	out.push.apply(out, acl.trailer || []);
	return out.join('\n').replace(/^\n+/, '') + '\n';
}

function text(s) {
	return document.createTextNode(s);
}

return view.extend({
	load: function() {
		return callGetAcl();
	},

	ruleTable: function(list, kind) {
		var self = this;
		var rows = list.map(function(rule, i) {
			var access = E('select', { class: 'cbi-input-select', change: function(ev) { rule.access = ev.target.value; } },
				ACCESS.map(function(a) { return E('option', { value: a }, a); }));
			access.value = rule.access;
			var topic = E('input', { type: 'text', class: 'cbi-input-text', value: rule.topic, input: function(ev) {
				rule.topic = ev.target.value;
				var err = filterError(rule.topic);
				ev.target.classList.toggle('cbi-input-invalid', !!err);
				ev.target.title = err || '';
			} });
			return E('tr', { class: 'tr', 'data-kind': kind }, [
				E('td', { class: 'td' }, [ access ]),
				E('td', { class: 'td' }, [ topic ]),
				E('td', { class: 'td cbi-section-actions' }, [
					E('button', { class: 'cbi-button', title: _('Move up'), disabled: i === 0 ? '' : null, click: function() {
						list.splice(i - 1, 0, list.splice(i, 1)[0]);
						self.redraw();
					} }, '&#8593;'),
					E('button', { class: 'cbi-button', title: _('Move down'), disabled: i === list.length - 1 ? '' : null, click: function() {
						list.splice(i + 1, 0, list.splice(i, 1)[0]);
						self.redraw();
					} }, '&#8595;'),
					E('button', { class: 'cbi-button cbi-button-remove', click: function() {
						list.splice(i, 1);
						self.redraw();
					} }, _('Delete'))
				])
			]);
		});
		return E('table', { class: 'table' }, [
			E('tr', { class: 'tr table-titles' }, [ E('th', { class: 'th' }, _('Access')), E('th', { class: 'th' }, _('Topic filter')), E('th', { class: 'th' }, '') ])
		].concat(rows).concat([
			E('tr', { class: 'tr' }, [ E('td', { class: 'td', colspan: 3 }, [
				E('button', { class: 'cbi-button cbi-button-add', 'data-add': kind, click: function() {
					list.push({ access: 'read', topic: '', comments: [] });
					self.redraw();
				} }, _('Add rule'))
			]) ])
		]));
	},

	renderBody: function() {
		var self = this, acl = this.acl;
		var users = acl.users.map(function(u, i) {
			var name = E('input', { type: 'text', class: 'cbi-input-text', value: u.name, 'data-user-index': i, input: function(ev) { u.name = ev.target.value; } });
			return E('div', { class: 'cbi-section mqttd-user-block' }, [
				E('h4', {}, [ _('User') + ' ', name, ' ',
					E('button', { class: 'cbi-button cbi-button-remove', click: function() {
						acl.users.splice(i, 1);
						self.redraw();
					} }, _('Delete user block')) ]),
				self.ruleTable(u.rules, 'user-' + i)
			]);
		});
		return E('div', { id: 'mqttd-acl-body' }, [
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Anonymous clients')),
				E('div', { class: 'cbi-section-descr' }, _('Rules for clients that connect without a username (when anonymous access is allowed).')),
				self.ruleTable(acl.anonymous, 'anonymous')
			]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Users')),
				E('div', { class: 'cbi-section-descr' }, _('Rules for one user each. Rules are checked in order; anything not granted is denied.')),
				E('div', {}, users),
				E('button', { class: 'cbi-button cbi-button-add', id: 'mqttd-add-user-block', click: function() {
					acl.users.push({ name: '', comments: [], rules: [ { access: 'readwrite', topic: '', comments: [] } ] });
					self.redraw();
				} }, _('Add user block'))
			]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Patterns (every client)')),
				E('div', { class: 'cbi-section-descr' }, _('In a pattern, %u is replaced by the client\'s username and %c by its client id, e.g. <code>users/%u/#</code> gives every user a private subtree.')),
				self.ruleTable(acl.patterns, 'pattern')
			])
		]);
	},

	redraw: function() {
		var body = document.getElementById('mqttd-acl-body');
		body.parentNode.replaceChild(this.renderBody(), body);
	},

	render: function(reply) {
		if (reply && reply.error)
			ui.addNotification(null, E('p', {}, [ text(reply.error) ]), 'danger');
		this.acl = parseAcl(reply && reply.acl);
		return E('div', { class: 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Access control')),
			E('div', { class: 'cbi-map-descr' }, _('The ACL file (/etc/mqttd/acl), in mosquitto\'s syntax. Saving applies it at once without dropping clients.')),
			this.renderBody()
		]);
	},

	handleSave: function() {
		var acl = this.acl, problems = [];
		function check(list, where) {
			list.forEach(function(r) {
				var err = filterError(r.topic);
				if (err)
					problems.push(where + ' "' + r.topic + '": ' + err);
			});
		}
		check(acl.anonymous, _('Anonymous rule'));
		check(acl.patterns, _('Pattern'));
		acl.users.forEach(function(u) {
			if (u.name.trim() === '' || /[\x00-\x1f\x7f]/.test(u.name))
				problems.push(_('A user block needs a valid username.'));
			check(u.rules, _('Rule of %s').format(u.name));
		});
		if (problems.length) {
			ui.addNotification(null, E('div', {}, problems.map(function(p) { return E('p', {}, [ text(p) ]); })), 'danger');
			return Promise.reject(new Error('invalid ACL'));
		}
		return callSetAcl(serializeAcl(acl)).then(function(r) {
			if (r && r.error)
				ui.addNotification(null, E('p', {}, [ text(_('The router refused the ACL: %s').format(r.error)) ]), 'danger');
			else
				ui.addNotification(null, E('p', {}, _('ACL saved and applied.')), 'info');
		});
	},

	handleSaveApply: function(ev) {
		return this.handleSave(ev);
	},

	handleReset: null
});
