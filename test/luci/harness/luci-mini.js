// A minimal LuCI-compatible client runtime for testing luci-app-mqttd's real view files in a
// browser without a router. It loads a view the way luci.js does (fetch the source, read its
// 'require' lines, build it with new Function) and provides the subset of LuCI's API the
// views use: view, form (Map/NamedSection/TypedSection/GridSection, tabs, Flag/Value/ListValue/
// DynamicList, parse/write/remove as form.js), uci (staged changes), rpc.declare
// over ubus JSON-RPC with the page's session id (as rpc.js), baseclass and 'require x.y'
// modules (as luci.js require()), ui notifications, poll, E() and _(). ubus calls go to the
// harness server, which checks the session as uhttpd/rpcd do, runs the real rpcd plugins
// and edits a real UCI file.
'use strict';

(function () {
  String.prototype.format = function () {
    var args = arguments, i = 0;
    return this.replace(/%([%sdhq])/g, function (m, c) {
      if (c === '%') return '%';
      var v = args[i++];
      if (c === 'd') return String(parseInt(v, 10));
      if (c === 'h' || c === 'q') return String(v).replace(/[&<>"']/g, function (ch) { return '&#' + ch.charCodeAt(0) + ';'; });
      return String(v);
    });
  };

  function append(node, children) {
    if (children == null) return;
    if (Array.isArray(children)) children.forEach(function (c) { append(node, c); });
    else if (children instanceof Node) node.appendChild(children);
    // As in LuCI, a string child is markup: views must escape user data themselves.
    else node.insertAdjacentHTML('beforeend', String(children));
  }

  function E(tag, attrs, children) {
    if (Array.isArray(attrs) || typeof attrs === 'string' || attrs instanceof Node) { children = attrs; attrs = null; }
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v == null) continue;
      if (typeof v === 'function') node.addEventListener(k, v);
      else if (typeof v === 'object') node.setAttribute(k, JSON.stringify(v));
      else node.setAttribute(k, v);
    }
    append(node, children);
    return node;
  }
  window.E = E;
  window._ = function (s) { return s; };

  // As rpc.js: the session id comes from L.env.sessionid (set by the page LuCI serves after
  // login), the all-zero id when there is none.
  var sessionId = (window.L && window.L.env && window.L.env.sessionid) || '00000000000000000000000000000000';
  var ubusId = 0;
  /** rpc.js getStatusText: the text of a ubus status code, as rejected calls report it. */
  var STATUS_TEXT = ['Command OK', 'Invalid command', 'Invalid argument', 'Method not found', 'Resource not found',
    'No data received', 'Permission denied', 'Request timeout', 'Not supported', 'Unspecified error', 'Connection lost'];
  function statusText(code) { return STATUS_TEXT[code] || 'Unknown error code'; }
  function post(object, method, params) {
    return fetch('/ubus', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++ubusId, method: 'call', params: [sessionId, object, method, params || {}] }),
    }).then(function (r) { return r.json(); });
  }
  /** The uci stand-in's own calls: any error or non-zero status fails. */
  function ubus(object, method, params) {
    return post(object, method, params).then(function (reply) {
      if (reply.error) throw new Error(reply.error.message);
      if (reply.result[0] !== 0) throw new Error('ubus status ' + reply.result[0]);
      return reply.result[1];
    });
  }

  var rpc = {
    /**
     * As rpc.js declare() + handleCallReply() (openwrt/luci modules/luci-base/htdocs/
     * luci-static/resources/rpc.js): positional args become the named params; a JSON-RPC
     * error rejects with "RPC call to o/m failed with error <code>: <message>"; a non-zero
     * ubus status resolves to the code unless `reject` is set; `expect` picks a key and
     * falls back to its value when the reply lacks it or has another type.
     */
    declare: function (opts) {
      return function () {
        var params = {};
        var args = arguments;
        (opts.params || []).forEach(function (p, i) { params[p] = args[i]; });
        return post(opts.object, opts.method, params).then(function (msg) {
          var type = Object.prototype.toString;
          if (msg.error && msg.error.code && msg.error.message)
            throw new Error('RPC call to ' + opts.object + '/' + opts.method + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
          var ret = null;
          if (Array.isArray(msg.result)) {
            if (opts.reject && msg.result[0] !== 0)
              throw new Error('RPC call to ' + opts.object + '/' + opts.method + ' failed with ubus code ' + msg.result[0] + ': ' + statusText(msg.result[0]));
            ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
          }
          if (opts.expect) {
            for (var key in opts.expect) {
              if (ret != null && key !== '') ret = ret[key];
              if (ret == null || type.call(ret) !== type.call(opts.expect[key])) ret = opts.expect[key];
              break;
            }
          }
          return ret;
        });
      };
    },
  };

  var ui = {
    addNotification: function (title, children, type) {
      var box = E('div', { class: 'alert-message ' + (type || '') }, [title ? E('h4', {}, title) : null, children]);
      document.getElementById('notifications').appendChild(box);
      return box;
    },
  };

  // As luci-base's luci.js, class LuCI.Poll: one 1 s ticker (start(): setInterval(step, 1000));
  // add() queues { fn, i: interval, r: ready } (interval defaults to L.env.pollinterval, 5 here,
  // and a function already queued is not added twice); step() runs each entry whose interval
  // divides the tick and whose previous call has settled (`e.r = false`, then
  // `Promise.resolve(e.fn()).finally(() => e.r = true)`), so a slow call never overlaps the next.
  var poll = {
    queue: [],
    tick: 0,
    timer: null,
    add: function (fn, interval) {
      if (interval == null || interval <= 0) interval = 5;
      for (var i = 0; i < poll.queue.length; i++) if (poll.queue[i].fn === fn) return false;
      poll.queue.push({ r: true, i: interval >>> 0, fn: fn });
      if (poll.timer == null) poll.timer = setInterval(poll.step, 1000);
      return true;
    },
    step: function () {
      for (var i = 0, e = null; (e = poll.queue[i]) != null; i++) {
        if (poll.tick % e.i !== 0 || !e.r) continue;
        e.r = false;
        Promise.resolve(e.fn()).finally(function () { this.r = true; }.bind(e));
      }
      poll.tick = (poll.tick + 1) % Math.pow(2, 32);
    },
  };

  // ---- uci: values loaded over ubus; changes kept here until save(), as luci's uci.js stages them ----
  var uci = {
    data: {}, added: {}, removed: {}, changed: {}, next: 0,
    load: function (config) {
      return ubus('uci', 'get', { config: config }).then(function (r) {
        uci.data[config] = r.values; uci.added = {}; uci.removed = {}; uci.changed = {};
        return r.values;
      });
    },
    get: function (config, sid, option) {
      var s = (uci.data[config] || {})[sid];
      if (!s) return null;
      if (option == null) return s;
      var v = s[option];
      return v == null ? null : Array.isArray(v) ? v.slice() : v;
    },
    set: function (config, sid, option, value) {
      var s = (uci.data[config] || {})[sid];
      if (!s) return;
      if (value == null || (Array.isArray(value) && !value.length)) delete s[option];
      else s[option] = Array.isArray(value) ? value.slice() : String(value);
      if (!uci.added[sid]) (uci.changed[sid] = uci.changed[sid] || {})[option] = value == null ? null : s[option];
    },
    unset: function (config, sid, option) { uci.set(config, sid, option, null); },
    /** A named section keeps its name; an anonymous one gets a temporary id until saved. */
    add: function (config, type, name) {
      var sid = name || 'new' + (uci.next++);
      var max = Object.keys(uci.data[config]).reduce(function (m, k) { return Math.max(m, uci.data[config][k]['.index']); }, -1);
      uci.data[config][sid] = { '.type': type, '.name': sid, '.anonymous': !name, '.index': max + 1 };
      uci.added[sid] = { type: type, name: name };
      return sid;
    },
    remove: function (config, sid) {
      if (uci.added[sid]) delete uci.added[sid]; else uci.removed[sid] = true;
      delete uci.data[config][sid];
    },
    sections: function (config, type) {
      var d = uci.data[config] || {};
      return Object.keys(d).map(function (k) { return d[k]; })
        .filter(function (s) { return type == null || s['.type'] === type; })
        .sort(function (a, b) { return a['.index'] - b['.index']; });
    },
    /** Sends the staged changes as rpcd's uci calls do, then commits (Save & Apply). */
    save: function (config) {
      var calls = Promise.resolve();
      Object.keys(uci.removed).forEach(function (sid) {
        calls = calls.then(function () { return ubus('uci', 'delete', { config: config, section: sid }); });
      });
      Object.keys(uci.added).forEach(function (sid) {
        var values = {}, s = uci.data[config][sid];
        Object.keys(s).forEach(function (k) { if (k.charAt(0) !== '.') values[k] = s[k]; });
        var args = { config: config, type: uci.added[sid].type, values: values };
        if (uci.added[sid].name) args.name = uci.added[sid].name;
        calls = calls.then(function () { return ubus('uci', 'add', args); });
      });
      Object.keys(uci.changed).forEach(function (sid) {
        if (uci.removed[sid]) return;
        calls = calls.then(function () { return ubus('uci', 'set', { config: config, section: sid, values: uci.changed[sid] }); });
      });
      return calls.then(function () { return ubus('uci', 'commit', { config: config }); });
    },
  };

  // ---- form ----
  var datatypes = {
    uinteger: function (v) { return /^\d+$/.test(v) || _('Expecting a non-negative integer'); },
    integer: function (v) { return /^-?\d+$/.test(v) || _('Expecting an integer'); },
    port: function (v) { return (/^\d+$/.test(v) && +v <= 65535) || _('Expecting a port number (0-65535)'); },
    ipaddr: function (v) { return /^[0-9a-fA-F.:]+$/.test(v) || _('Expecting an IP address'); },
    uciname: function (v) { return /^[A-Za-z0-9_]+$/.test(v) || _('Expecting a name of letters, digits and _'); },
    range: function (v, min, max) {
      return (/^-?\d+$/.test(v) && +v >= +min && +v <= +max) || _('Expecting a value between %d and %d').format(min, max);
    },
  };
  function checkDatatype(spec, v) {
    var m = /^(\w+)(?:\((.*)\))?$/.exec(spec || '');
    if (!m || !datatypes[m[1]]) return true;
    return datatypes[m[1]].apply(null, [v].concat(m[2] ? m[2].split(',') : []));
  }
  function isEqual(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function AbstractValue(section, option, title, description) {
    // As form.js: an option knows its section and its map.
    this.section = section; this.map = section.map; this.option = option; this.title = title; this.description = description;
    this.keylist = []; this.vallist = []; this.rmempty = true; this.default = null;
  }
  AbstractValue.prototype.value = function (k, v) { this.keylist.push(k); this.vallist.push(v != null ? v : k); };
  AbstractValue.prototype.cbid = function (sid) { return 'widget.cbid.' + this.section.map.config + '.' + sid + '.' + this.option; };
  AbstractValue.prototype.cfgvalue = function (sid) { return this.section.map.data.get(this.section.map.config, sid, this.option); };
  AbstractValue.prototype.write = function (sid, value) { return this.section.map.data.set(this.section.map.config, sid, this.option, value); };
  AbstractValue.prototype.remove = function (sid) { return this.section.map.data.unset(this.section.map.config, sid, this.option); };
  AbstractValue.prototype.widget = function (sid) {
    var id = this.cbid(sid);
    var value = this.cfgvalue(sid);
    if (value == null) value = this.default != null ? this.default : '';
    var node;
    if (this.kind === 'flag') {
      node = E('input', { type: 'checkbox', id: id });
      node.checked = value === '1';
    } else if (this.kind === 'list') {
      node = E('select', { id: id }, this.keylist.map(function (k, i) { return E('option', { value: k }, this.vallist[i]); }, this));
      node.value = value;
    } else if (this.kind === 'dynlist') {
      node = this.dynlist(id, value === '' ? [] : [].concat(value));
    } else {
      node = E('input', { type: this.password ? 'password' : 'text', id: id, placeholder: this.placeholder || '', autocomplete: this.password ? 'new-password' : null });
      node.value = value;
      if (this.keylist.length) {
        var listId = id + '.list';
        node.setAttribute('list', listId);
        node = E('span', {}, [node, E('datalist', { id: listId }, this.keylist.map(function (k, i) { return E('option', { value: k }, this.vallist[i]); }, this))]);
      }
    }
    return node;
  };
  /** As ui.DynamicList: fixed items with a remove cross, and a field whose valid text is added with + or Enter. */
  AbstractValue.prototype.dynlist = function (id, items) {
    var self = this, sid = id.split('.')[3];
    var list = E('div', { class: 'cbi-dynlist', id: id });
    var input = E('input', { type: 'text', class: 'cbi-input-text', placeholder: this.placeholder || '' });
    function item(v) {
      var el = E('div', { class: 'item', 'data-value': v }, [E('span', {}, document.createTextNode(v)),
        E('span', { class: 'remove-item', title: _('Remove'), click: function () { el.remove(); } }, '×')]);
      return el;
    }
    function addPending() {
      var v = input.value.trim();
      if (v === '') return;
      var ok = self.checkOne(sid, v);
      input.classList.toggle('cbi-input-invalid', ok !== true);
      if (ok !== true) return;
      list.insertBefore(item(v), list.lastChild);
      input.value = '';
    }
    input.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { ev.preventDefault(); addPending(); } });
    items.forEach(function (v) { list.appendChild(item(v)); });
    list.appendChild(E('div', { class: 'add-item' }, [input, E('button', { class: 'cbi-button cbi-button-add', click: addPending }, '+')]));
    return list;
  };
  AbstractValue.prototype.formvalue = function (sid) {
    var el = document.getElementById(this.cbid(sid));
    if (!el) return null;
    if (this.kind === 'flag') return el.checked ? '1' : '0';
    if (this.kind === 'dynlist') {
      var v = Array.prototype.map.call(el.querySelectorAll('.item'), function (i) { return i.getAttribute('data-value'); });
      // As ui.DynamicList.getValue: text typed but not yet added counts too.
      var pending = el.querySelector('.add-item input').value.trim();
      if (pending !== '') v.push(pending);
      return v;
    }
    return el.value;
  };
  AbstractValue.prototype.checkOne = function (sid, value) {
    var ok = checkDatatype(this.datatype, value);
    if (ok !== true) return ok;
    return this.validate ? this.validate(sid, value) : true;
  };
  /** true, or why the field's value is invalid. */
  AbstractValue.prototype.check = function (sid, value) {
    if (value === '' || (Array.isArray(value) && !value.length)) return this.rmempty || this.optional ? true : _('This field is required');
    var values = [].concat(value);
    for (var i = 0; i < values.length; i++) {
      var ok = this.checkOne(sid, values[i]);
      if (ok !== true) return ok;
    }
    return true;
  };
  /** form.js AbstractValue.parse: empty removes, a changed value is written. */
  AbstractValue.prototype.parse = function (sid) {
    var fval = this.formvalue(sid);
    if (fval == null) return true;
    var ok = this.check(sid, fval);
    if (ok !== true) return ok;
    if (this.kind === 'flag') {
      if (fval === (this.default || '0') && (this.rmempty || this.optional)) this.remove(sid);
      else this.write(sid, fval);
    } else if (fval === '' || (Array.isArray(fval) && !fval.length)) {
      this.remove(sid);
    } else if (!isEqual(this.cfgvalue(sid), fval)) {
      this.write(sid, fval);
    }
    return true;
  };

  function makeOption(kind) {
    function Option() { AbstractValue.apply(this, arguments); this.kind = kind; }
    Option.prototype = Object.create(AbstractValue.prototype);
    return Option;
  }

  function Section(map, type, title, description, name) {
    this.map = map; this.sectiontype = type; this.title = title; this.description = description;
    this.children = []; this.name = name; this.tabs = [];
  }
  Section.prototype.option = function (Kind, option, title, description) {
    var o = new Kind(this, option, title, description);
    this.children.push(o);
    return o;
  };
  Section.prototype.tab = function (name, title, description) { this.tabs.push({ name: name, title: title, description: description }); };
  Section.prototype.taboption = function (tab, Kind, option, title, description) {
    var o = this.option(Kind, option, title, description);
    o.tab = tab;
    return o;
  };
  Section.prototype.cfgsections = function () {
    if (this.name) return [this.name];
    return this.map.data.sections(this.map.config, this.sectiontype).map(function (s) { return s['.name']; });
  };
  Section.prototype.valueRow = function (sid, o) {
    return E('div', { class: 'cbi-value', 'data-name': o.option }, [
      E('label', { class: 'cbi-value-title', for: o.cbid(sid) }, o.title),
      E('div', { class: 'cbi-value-field' }, [o.widget(sid), o.description ? E('div', { class: 'cbi-value-description' }, o.description) : null]),
    ]);
  };
  /** The options of one section, under a tab menu when the section has tabs. */
  Section.prototype.renderOptions = function (sid) {
    var self = this;
    if (!this.tabs.length) return this.children.map(function (o) { return self.valueRow(sid, o); });
    var containers = this.tabs.map(function (t, i) {
      return E('div', { class: 'cbi-tabcontainer', 'data-tab': t.name, style: i ? 'display:none' : null },
        [t.description ? E('div', { class: 'cbi-tab-descr' }, t.description) : null].concat(
          self.children.filter(function (o) { return o.tab === t.name; }).map(function (o) { return self.valueRow(sid, o); })));
    });
    var menu = E('ul', { class: 'cbi-tabmenu' }, this.tabs.map(function (t, i) {
      return E('li', { class: i ? 'cbi-tab-disabled' : 'cbi-tab', 'data-tab': t.name }, E('a', { href: '#', click: function (ev) {
        ev.preventDefault();
        menu.querySelectorAll('li').forEach(function (li) { li.className = li.getAttribute('data-tab') === t.name ? 'cbi-tab' : 'cbi-tab-disabled'; });
        containers.forEach(function (c) { c.style.display = c.getAttribute('data-tab') === t.name ? '' : 'none'; });
      } }, t.title));
    }));
    return [menu].concat(containers);
  };
  Section.prototype.redraw = function (node) {
    var old = this.node;
    this.node = node;
    // Adding or removing a section redraws this section only, so edits elsewhere stay.
    if (old && old.parentNode) old.parentNode.replaceChild(node, old);
    return node;
  };
  Section.prototype.handleAdd = function (name) {
    this.map.data.add(this.map.config, this.sectiontype, name);
    this.render();
  };
  Section.prototype.handleRemove = function (sid) {
    this.map.data.remove(this.map.config, sid);
    this.render();
  };

  function NamedSection(map, name, type, title, description) { Section.call(this, map, type, title, description, name); }
  NamedSection.prototype = Object.create(Section.prototype);
  NamedSection.prototype.render = function () {
    return this.redraw(E('fieldset', { class: 'cbi-section', id: 'cbi-' + this.map.config + '-' + this.name }, [
      this.title ? E('h3', {}, this.title) : null,
      this.description ? E('div', { class: 'cbi-section-descr' }, this.description) : null,
    ].concat(this.renderOptions(this.name))));
  };

  /** form.TypedSection: every section of the type one under another; named ones are added by name. */
  function TypedSection(map, type, title, description) { Section.call(this, map, type, title, description); }
  TypedSection.prototype = Object.create(Section.prototype);
  TypedSection.prototype.render = function () {
    var self = this;
    var nodes = this.cfgsections().map(function (sid) {
      return E('div', { class: 'cbi-section-node', id: 'cbi-' + self.map.config + '-' + sid, 'data-section-id': sid }, [
        self.anonymous ? null : E('h4', { class: 'cbi-section-node-title' }, document.createTextNode(sid)),
        self.addremove ? E('div', { class: 'cbi-section-remove right' }, E('button', {
          class: 'cbi-button cbi-button-remove', click: function () { self.handleRemove(sid); },
        }, _('Delete'))) : null,
      ].concat(self.renderOptions(sid)));
    });
    var create = null;
    if (this.addremove) {
      var nameInput = this.anonymous ? null : E('input', { type: 'text', class: 'cbi-section-create-name', placeholder: _('New name') });
      create = E('div', { class: 'cbi-section-create' }, [nameInput, E('button', { class: 'cbi-button cbi-button-add', click: function () {
        if (!nameInput) return self.handleAdd();
        var name = nameInput.value.trim();
        var ok = checkDatatype('uciname', name);
        if (ok === true && self.map.data.get(self.map.config, name)) ok = _('Expecting a unique name');
        nameInput.classList.toggle('cbi-input-invalid', ok !== true);
        if (ok === true) self.handleAdd(name);
      } }, this.addbtntitle || _('Add'))]);
    }
    return this.redraw(E('fieldset', { class: 'cbi-section cbi-tsection', id: 'cbi-' + this.map.config + '-' + this.sectiontype }, [
      this.title ? E('h3', {}, this.title) : null,
      this.description ? E('div', { class: 'cbi-section-descr' }, this.description) : null,
      nodes.length ? null : E('em', { class: 'cbi-section-empty' }, _('This section contains no values yet')),
    ].concat(nodes, [create])));
  };

  function GridSection(map, type, title, description) { Section.call(this, map, type, title, description); }
  GridSection.prototype = Object.create(Section.prototype);
  GridSection.prototype.render = function () {
    var self = this;
    var rows = this.cfgsections().map(function (sid) {
      return E('tr', { class: 'tr cbi-section-table-row', 'data-sid': sid }, self.children.map(function (o) {
        return E('td', { class: 'td cbi-value-field', 'data-title': o.title }, o.widget(sid));
      }).concat([E('td', { class: 'td cbi-section-actions' }, self.addremove ? E('button', {
        class: 'cbi-button cbi-button-remove', click: function () { self.handleRemove(sid); },
      }, _('Delete')) : null)]));
    });
    return this.redraw(E('fieldset', { class: 'cbi-section cbi-tblsection', id: 'cbi-' + this.map.config + '-' + this.sectiontype }, [
      this.title ? E('h3', {}, this.title) : null,
      this.description ? E('div', { class: 'cbi-section-descr' }, this.description) : null,
      E('table', { class: 'table cbi-section-table' }, [
        E('tr', { class: 'tr table-titles' }, this.children.map(function (o) { return E('th', { class: 'th' }, o.title); }).concat([E('th', { class: 'th' })])),
      ].concat(rows)),
      this.addremove ? E('button', { class: 'cbi-button cbi-button-add', click: function () { self.handleAdd(); } }, _('Add')) : null,
    ]));
  };

  function FormMap(config, title, description) {
    this.config = config; this.title = title; this.description = description; this.children = [];
    this.data = uci;
  }
  FormMap.prototype.section = function (Kind) {
    var args = Array.prototype.slice.call(arguments, 1);
    var s = Object.create(Kind.prototype);
    Kind.apply(s, [this].concat(args));
    this.children.push(s);
    return s;
  };
  FormMap.prototype.load = function () { return uci.load(this.config); };
  FormMap.prototype.render = function () {
    var self = this;
    return this.load().then(function () {
      self.root = E('div', { class: 'cbi-map', id: 'cbi-' + self.config }, [
        E('h2', {}, self.title), self.description ? E('div', { class: 'cbi-map-descr' }, self.description) : null,
        E('div', { class: 'cbi-map-sections' }, self.children.map(function (s) { return s.render(); })),
      ]);
      maps.push(self);
      return self.root;
    });
  };
  FormMap.prototype.rerender = function () {
    var sections = this.root.querySelector('.cbi-map-sections');
    sections.replaceChildren.apply(sections, this.children.map(function (s) { s.node = null; return s.render(); }));
  };
  /** Validates every field (nothing is sent if one is invalid), stages the changes, commits, reloads. */
  FormMap.prototype.save = function () {
    var self = this, errors = [];
    this.root.querySelectorAll('.cbi-input-invalid').forEach(function (el) { el.classList.remove('cbi-input-invalid'); });
    this.children.forEach(function (s) {
      s.cfgsections().forEach(function (sid) {
        s.children.forEach(function (o) {
          var v = o.formvalue(sid);
          if (v == null) return;
          var ok = o.check(sid, v);
          if (ok !== true) {
            errors.push(o.title + ': ' + ok);
            var el = document.getElementById(o.cbid(sid));
            (el.querySelector('.add-item input') || el).classList.add('cbi-input-invalid');
          }
        });
      });
    });
    if (errors.length) {
      ui.addNotification(null, E('p', {}, errors.map(function (e) { return E('div', {}, document.createTextNode(e)); })), 'danger');
      return Promise.reject(new Error('invalid'));
    }
    this.children.forEach(function (s) {
      s.cfgsections().forEach(function (sid) { s.children.forEach(function (o) { o.parse(sid); }); });
    });
    return uci.save(this.config).then(function () { return self.load(); }).then(function () { self.rerender(); });
  };

  var maps = [];
  var form = {
    Map: FormMap, NamedSection: NamedSection, GridSection: GridSection, TypedSection: TypedSection,
    Flag: makeOption('flag'), Value: makeOption('value'), ListValue: makeOption('list'), DynamicList: makeOption('dynlist'),
  };

  var view = {
    extend: function (proto) {
      var base = {
        load: function () { return Promise.resolve(); },
        handleSave: function () { return Promise.all(maps.map(function (m) { return m.save(); })); },
        handleSaveApply: function (ev) { return this.handleSave(ev); },
        handleReset: function () { location.reload(); },
      };
      var v = Object.assign(Object.create(base), proto);
      return v;
    },
  };

  /** baseclass.extend as luci.js's Class.extend: a constructor whose prototype holds `proto`. */
  var baseclass = {
    extend: function (proto) {
      function Class() { if (typeof this.__init__ === 'function') this.__init__.apply(this, arguments); }
      Object.assign(Class.prototype, proto);
      return Class;
    },
  };

  var modules = { baseclass: baseclass, view: view, form: form, rpc: rpc, ui: ui, poll: poll, uci: uci };

  /**
   * Fetches a source file and runs it with its 'require x [as y]' modules as arguments.
   * As luci.js require(): a module x.y is the file x/y.js under luci-static/resources,
   * whose factory returns a class that is instantiated once (classes[name] = new _class()).
   */
  function compile(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) throw new Error('HTTP error ' + r.status + ' while loading class file "' + url + '"');
      return r.text();
    }).then(function (src) {
      var names = [], loads = [];
      var re = /^\s*'require\s+([\w.]+)(?:\s+as\s+(\w+))?';/gm, m;
      while ((m = re.exec(src)) !== null) {
        names.push(m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_'));
        loads.push(requireModule(m[1]));
      }
      return Promise.all(loads).then(function (values) { return new Function(names.join(','), src).apply(window, values); });
    });
  }
  function requireModule(name) {
    if (modules[name]) return Promise.resolve(modules[name]);
    if (name.indexOf('.') < 0) return Promise.reject(new Error('the harness has no module ' + name));
    modules[name] = compile('/luci-static/resources/' + name.replace(/\./g, '/') + '.js').then(function (Class) {
      modules[name] = new Class();
      return modules[name];
    });
    return modules[name];
  }

  /** Loads view/<path>.js as luci.js does and renders it into #maincontent. */
  window.loadView = function (path) {
    return compile('/luci-static/resources/view/' + path + '.js').then(function (v) {
      return Promise.resolve(v.load()).then(function (data) { return v.render(data); }).then(function (node) {
        var main = document.getElementById('maincontent');
        main.appendChild(node);
        var footer = E('div', { class: 'cbi-page-actions' }, [
          v.handleSaveApply ? E('button', { class: 'cbi-button cbi-button-apply', click: function (ev) { return v.handleSaveApply(ev).catch(function () {}); } }, _('Save & Apply')) : null,
          v.handleSave ? E('button', { class: 'cbi-button cbi-button-save', click: function (ev) { return v.handleSave(ev).catch(function () {}); } }, _('Save')) : null,
          v.handleReset ? E('button', { class: 'cbi-button cbi-button-reset', click: function (ev) { return v.handleReset(ev); } }, _('Reset')) : null,
        ]);
        if (footer.childNodes.length) main.appendChild(footer);
        document.body.setAttribute('data-view-ready', path);
      });
    }).catch(function (err) {
      document.body.setAttribute('data-view-error', String(err && err.stack || err));
    });
  };
})();
