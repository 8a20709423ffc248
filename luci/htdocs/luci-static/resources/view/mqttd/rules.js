'use strict';
'require view';
'require form';
'require rpc';
'require poll';
'require mqttd.topicfilter as topicfilter';
'require mqttd.dom as dom';

// Services > MQTT Broker > Rules: the simple rules (UCI `config rule` sections) and, from the
// broker's status file, what each rule (script rules included) last did. Values are checked
// here by the rules of the broker's reader (src/rules/SimpleRuleParser.ts, Template.ts,
// Clock.ts) for a quick answer; the broker checks them again when it reloads, and a rule it
// refuses shows as "invalid" below with the broker's own message (file and line).
var callStatus = rpc.declare({ object: 'mqttd', method: 'status', expect: { '': {} } });

var OPS = [ '=', '!=', '<', '>', 'contains', 'changed' ];
var DAYS = [ 'sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' ];
var MAX_SECONDS = 604800;

var text = dom.text, when = dom.when;

/** The value a rule's other field has in the form right now ('' when empty). */
function other(section_id, option) {
	var el = document.getElementById('widget.cbid.mqttd.' + section_id + '.' + option);
	return el && el.value != null ? String(el.value).trim() : '';
}

function triggers(section_id) {
	return [ 'when', 'every', 'at' ].filter(function(o) { return other(section_id, o) !== ''; });
}

function oneTrigger(section_id) {
	return triggers(section_id).length === 1 || _('Give exactly one trigger: a topic filter, every N seconds, or a time');
}

/** Why a topic filter cannot trigger a rule, or null. */
function filterError(f) {
	if (f.indexOf('$share/') === 0)
		return _('Shared subscriptions ($share) cannot trigger a rule');
	return topicfilter.error(f);
}

/** A template's placeholders, as src/rules/Template.ts reads them. */
function templateError(section_id, value) {
	var re = /<([A-Za-z0-9_.$-]+)>/g, m, message = false, maxLevel = 0;
	while ((m = re.exec(value)) !== null) {
		var name = m[1];
		if (/^(topic|payload|clientid)$/.test(name))
			message = true;
		else if (/^[1-9][0-9]{0,2}$/.test(name)) {
			message = true;
			maxLevel = Math.max(maxLevel, +name);
		}
		else if (name.indexOf('json.') === 0) {
			message = true;
			if (!name.slice(5).split('.').every(function(p) { return /^[A-Za-z0-9_$-]+$/.test(p); }))
				return _('Bad JSON path <%s>').format(name);
		}
		else if (!/^(time|date|timestamp)$/.test(name))
			return _('Unknown placeholder <%s>: use <topic>, <1>…<n>, <payload>, <json.field>, <clientid>, <time>, <date> or <timestamp>').format(name);
	}
	var filter = other(section_id, 'when');
	if (message && filter === '' && triggers(section_id).length)
		return _('A timer rule has no trigger message: only <time>, <date> and <timestamp> apply');
	if (maxLevel && filter !== '' && !/#$/.test(filter) && maxLevel > filter.split('/').length)
		return _('<%d> but "%s" has only %d levels').format(maxLevel, filter, filter.split('/').length);
	return true;
}

function seconds(min) {
	return function(section_id, value) {
		return (/^\d+$/.test(value) && +value >= min && +value <= MAX_SECONDS) || _('Expecting whole seconds from %d to %d').format(min, MAX_SECONDS);
	};
}

function onlyWithWhen(section_id, what) {
	return other(section_id, 'when') !== '' || _('%s applies only to rules triggered by a message ("When a message arrives on")').format(what);
}

var STATES = {
	active: [ 'success', _('Active') ],
	disabled: [ 'notice', _('Disabled') ],
	invalid: [ 'warning', _('Invalid') ],
	failed: [ 'warning', _('Stopped') ]
};

/** One row per rule from the status file's rules[] (the broker's own view: simple and script rules). */
function statusTable(reply) {
	var st = (reply && reply.status) || {}, running = !!(reply && reply.running);
	var rules = running ? (st.rules || []) : [];
	var titles = [ _('Rule'), _('Kind'), _('State'), _('Fired'), _('Last fired'), _('Last error'), _('Defined at') ];
	var rows = rules.map(function(r) {
		var s = STATES[r.state] || [ 'warning', r.state ];
		var cells = [ text(r.name), text(r.kind === 'script' ? _('Script') : _('Simple')), E('span', { class: 'label ' + s[0] }, [ text(s[1]) ]),
			text(r.fired), text(when(r.last_fired)), text(r.last_error || '-'), text(r.source) ];
		return E('tr', { class: 'tr', 'data-rule': r.name, 'data-state': r.state }, cells.map(function(c, i) {
			return E('td', { class: 'td', 'data-title': titles[i] }, [ c ]);
		}));
	});
	return E('table', { class: 'table', id: 'mqttd-rules-status', 'data-running': running ? '1' : '0' }, [
		E('tr', { class: 'tr table-titles' }, titles.map(function(t) { return E('th', { class: 'th' }, t); }))
	].concat(rows.length ? rows : [ E('tr', { class: 'tr placeholder' }, [ E('td', { class: 'td', colspan: titles.length }, [
		E('em', {}, running ? _('No rule is loaded.') : _('The broker is not running.')) ]) ]) ]));
}

return view.extend({
	load: function() {
		return callStatus();
	},

	render: function(reply) {
		var m, s, o;

		poll.add(function() {
			return callStatus().then(function(r) {
				var node = document.getElementById('mqttd-rules-status');
				if (node)
					node.parentNode.replaceChild(statusTable(r), node);
			});
		}, 3);

		m = new form.Map('mqttd', _('MQTT Broker: Rules'),
			_('Rules react to messages and timers on the router itself: when a message arrives (optionally only when a payload or JSON field compares with a value), every N seconds, or at a clock time, publish a message. Topic and payload are templates: <code>&lt;2&gt;</code> is the trigger topic\'s second level, <code>&lt;payload&gt;</code>, <code>&lt;json.AM2301.Temperature&gt;</code>, <code>&lt;time&gt;</code>. Rules publish as the broker itself (the ACL does not apply). Script rules are <code>*.js</code> files in the rules directory (see docs/rules.md). Save &amp; Apply reloads the rules without disconnecting anyone.'));

		s = m.section(form.TypedSection, 'rule', _('Simple rules'));
		s.addremove = true;
		s.anonymous = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = true;

		o = s.option(form.Value, 'when', _('When a message arrives on'), _('A topic filter, e.g. <code>tele/+/SENSOR</code>. Or use "Every" or "At" instead.'));
		o.optional = true;
		o.validate = function(section_id, value) {
			if (value === '')
				return true;
			if (oneTrigger(section_id) !== true)
				return oneTrigger(section_id);
			return filterError(value) || true;
		};

		o = s.option(form.Value, 'field', _('Compare'), _('<code>payload</code> or a JSON field such as <code>json.AM2301.Temperature</code>; empty: the payload'));
		o.optional = true;
		o.placeholder = 'payload';
		o.validate = function(section_id, value) {
			if (value === '')
				return true;
			var w = onlyWithWhen(section_id, _('Compare'));
			if (w !== true)
				return w;
			if (value === 'payload' || (value.indexOf('json.') === 0 && value.slice(5).split('.').every(function(p) { return /^[A-Za-z0-9_$-]+$/.test(p); })))
				return true;
			return _('Expecting payload or json.<field>');
		};

		o = s.option(form.ListValue, 'op', _('Operator'));
		o.value('', _('(always)'));
		OPS.forEach(function(op) { o.value(op, op); });
		o.optional = true;
		o.validate = function(section_id, value) {
			if (value === '')
				return (other(section_id, 'field') === '' && other(section_id, 'value') === '') || _('Compare and Value need an operator');
			return onlyWithWhen(section_id, _('Operator'));
		};

		o = s.option(form.Value, 'value', _('Value'), _('Compared with; numbers for &lt; and &gt;. Not used by "changed".'));
		o.optional = true;
		o.validate = function(section_id, value) {
			var op = other(section_id, 'op');
			if (op === 'changed')
				return value === '' || _('"changed" compares with the previous value: leave Value empty');
			if (op !== '' && value === '')
				return _('Operator %s needs a value').format(op);
			if ((op === '<' || op === '>') && !(value.trim() !== '' && isFinite(+value)))
				return _('%s compares numbers, not "%s"').format(op, value);
			return true;
		};

		o = s.option(form.Value, 'every', _('Every (seconds)'));
		o.optional = true;
		o.validate = function(section_id, value) {
			return value === '' || (oneTrigger(section_id) === true ? seconds(1)(section_id, value) : oneTrigger(section_id));
		};

		o = s.option(form.Value, 'at', _('At (HH:MM, local time)'));
		o.optional = true;
		o.validate = function(section_id, value) {
			if (value !== '' && oneTrigger(section_id) !== true)
				return oneTrigger(section_id);
			return value === '' || /^([01]?[0-9]|2[0-3]):[0-5][0-9]$/.test(value) || _('Expecting a time HH:MM, 00:00 to 23:59');
		};

		o = s.option(form.Value, 'weekdays', _('On weekdays'), _('With "At": e.g. <code>mon-fri</code> or <code>sat sun</code>; empty: every day'));
		o.optional = true;
		o.validate = function(section_id, value) {
			if (value === '')
				return true;
			if (other(section_id, 'at') === '')
				return _('Weekdays apply only to rules with "At"');
			var words = value.toLowerCase().split(/[\s,]+/).filter(function(w) { return w !== ''; });
			for (var i = 0; i < words.length; i++) {
				var r = /^([a-z]{3})-([a-z]{3})$/.exec(words[i]);
				var ok = r ? (DAYS.indexOf(r[1]) >= 0 && DAYS.indexOf(r[2]) >= 0) : /^(sun|mon|tue|wed|thu|fri|sat)[a-z]*$/.test(words[i]);
				if (!ok)
					return _('Unknown weekday "%s"').format(words[i]);
			}
			return true;
		};

		o = s.option(form.Value, 'topic', _('Then publish to'), _('A topic; may use placeholders, e.g. <code>cmnd/&lt;2&gt;/POWER</code>'));
		o.validate = function(section_id, value) {
			// The topic is required, so its check always runs: the place to insist on a trigger.
			if (oneTrigger(section_id) !== true)
				return oneTrigger(section_id);
			if (!/<[A-Za-z0-9_.$-]+>/.test(value) && /[+#]/.test(value))
				return _('A topic to publish to has no + or #');
			if (value.indexOf('$SYS') === 0)
				return _('$SYS topics are the broker\'s');
			return templateError(section_id, value);
		};

		o = s.option(form.Value, 'payload', _('Payload'), _('May use placeholders; empty: an empty message'));
		o.optional = true;
		o.validate = templateError;

		o = s.option(form.ListValue, 'qos', _('QoS'));
		[ '0', '1', '2' ].forEach(function(q) { o.value(q, q); });
		o.default = '0';
		o.optional = true;

		o = s.option(form.Flag, 'retain', _('Retain'));
		o.default = '0';
		o.rmempty = true;

		o = s.option(form.Value, 'delay', _('Delay (seconds)'), _('Wait before publishing'));
		o.optional = true;
		o.validate = function(section_id, value) { return value === '' || seconds(0)(section_id, value); };

		o = s.option(form.Value, 'debounce', _('At most once per (seconds)'), _('After firing, the rule ignores its trigger this long'));
		o.optional = true;
		o.validate = function(section_id, value) { return value === '' || seconds(0)(section_id, value); };

		return m.render().then(function(node) {
			return E('div', {}, [
				E('div', { class: 'cbi-section' }, [ E('h3', {}, _('What the rules did')), statusTable(reply) ]),
				node
			]);
		});
	}
});
