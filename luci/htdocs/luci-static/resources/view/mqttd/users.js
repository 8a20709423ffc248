'use strict';
'require view';
'require rpc';
'require ui';

// Services > MQTT Broker > Users: the passwd file, through the rpcd plugin. Passwords go to
// the router once, are hashed there by mqttd_passwd, and are never shown or read back.
var callListUsers = rpc.declare({ object: 'mqttd', method: 'list_users', expect: { '': {} } });
var callAddUser = rpc.declare({ object: 'mqttd', method: 'add_user', params: [ 'username', 'password' ], expect: { '': {} } });
var callSetPassword = rpc.declare({ object: 'mqttd', method: 'set_password', params: [ 'username', 'password' ], expect: { '': {} } });
var callDeleteUser = rpc.declare({ object: 'mqttd', method: 'delete_user', params: [ 'username' ], expect: { '': {} } });

// The same rules the router applies; checked here first so mistakes show at once.
function usernameError(name) {
	if (name === '')
		return _('Enter a username.');
	if (name.indexOf(':') >= 0)
		return _('A username cannot contain ":".');
	if (/[\x00-\x1f\x7f]/.test(name))
		return _('A username cannot contain control characters.');
	if (name.charAt(0) === '#')
		return _('A username cannot start with "#".');
	if (name.trim() !== name)
		return _('A username cannot start or end with a space.');
	return null;
}

function passwordError(pw, again) {
	if (pw === '')
		return _('Enter a password.');
	if (/[\x00-\x1f\x7f]/.test(pw))
		return _('A password cannot contain control characters.');
	if (pw !== again)
		return _('The two passwords differ.');
	return null;
}

function text(s) {
	return document.createTextNode(s);
}

function notify(reply, done) {
	if (reply && reply.error) {
		ui.addNotification(null, E('p', {}, [ text(reply.error) ]), 'danger');
		return false;
	}
	ui.addNotification(null, E('p', {}, [ text(done) ]), 'info');
	return true;
}

return view.extend({
	load: function() {
		return callListUsers();
	},

	renderTable: function(reply) {
		var self = this;
		var users = (reply && reply.users) || [];
		var rows = users.map(function(u) {
			var pw = E('input', { type: 'password', class: 'cbi-input-password', placeholder: _('New password'), autocomplete: 'new-password' });
			return E('tr', { class: 'tr', 'data-username': u.username }, [
				E('td', { class: 'td', 'data-title': _('Username') }, [ E('strong', {}, [ text(u.username) ]) ]),
				E('td', { class: 'td' }, [ pw, ' ',
					E('button', { class: 'cbi-button cbi-button-edit', click: function() {
						var err = passwordError(pw.value, pw.value);
						if (err)
							return ui.addNotification(null, E('p', {}, [ text(err) ]), 'danger');
						return callSetPassword(u.username, pw.value).then(function(r) {
							pw.value = '';
							notify(r, _('Password changed for %s.').format(u.username));
						});
					} }, _('Change password'))
				]),
				E('td', { class: 'td' }, [
					E('button', { class: 'cbi-button cbi-button-remove', click: function() {
						if (!confirm(_('Delete user %s? Connected clients of this user are refused at their next login.').format(u.username)))
							return;
						return callDeleteUser(u.username).then(function(r) {
							if (notify(r, _('User %s deleted.').format(u.username)))
								return self.refresh();
						});
					} }, _('Delete'))
				])
			]);
		});
		if (!rows.length)
			rows.push(E('tr', { class: 'tr placeholder' }, [ E('td', { class: 'td', colspan: 3 }, [ E('em', {}, _('No users yet: only anonymous clients could connect, if allowed.')) ]) ]));
		return E('table', { class: 'table', id: 'mqttd-users' }, [
			E('tr', { class: 'tr table-titles' }, [
				E('th', { class: 'th' }, _('Username')),
				E('th', { class: 'th' }, _('Password')),
				E('th', { class: 'th' }, '')
			])
		].concat(rows));
	},

	refresh: function() {
		var self = this;
		return callListUsers().then(function(reply) {
			var table = document.getElementById('mqttd-users');
			table.parentNode.replaceChild(self.renderTable(reply), table);
		});
	},

	render: function(reply) {
		var self = this;
		var name = E('input', { type: 'text', id: 'mqttd-new-username', placeholder: _('Username'), autocomplete: 'off' });
		var pw = E('input', { type: 'password', id: 'mqttd-new-password', placeholder: _('Password'), autocomplete: 'new-password' });
		var again = E('input', { type: 'password', id: 'mqttd-new-password-again', placeholder: _('Password again'), autocomplete: 'new-password' });

		var add = function() {
			var err = usernameError(name.value) || passwordError(pw.value, again.value);
			if (err)
				return ui.addNotification(null, E('p', {}, [ text(err) ]), 'danger');
			return callAddUser(name.value, pw.value).then(function(r) {
				pw.value = again.value = '';
				if (notify(r, _('User %s added.').format(name.value))) {
					name.value = '';
					return self.refresh();
				}
			});
		};

		return E('div', { class: 'cbi-map' }, [
			E('h2', {}, _('MQTT Broker: Users')),
			E('div', { class: 'cbi-map-descr' }, _('Users of the password file (/etc/mqttd/passwd). Changes apply at once: the broker rereads the file without dropping anyone.')),
			E('div', { class: 'cbi-section' }, [ E('h3', {}, _('Users')), self.renderTable(reply) ]),
			E('div', { class: 'cbi-section' }, [
				E('h3', {}, _('Add a user')),
				E('div', { class: 'cbi-value' }, [ name, ' ', pw, ' ', again, ' ',
					E('button', { class: 'cbi-button cbi-button-add', id: 'mqttd-add-user', click: add }, _('Add user'))
				])
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
