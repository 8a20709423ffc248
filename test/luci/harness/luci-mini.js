// A minimal LuCI-compatible client runtime for testing luci-app-mqttd's real view files in a
// browser without a router. It loads a view the way luci.js does (fetch the source, read its
// 'require' lines, build it with new Function) and provides the subset of LuCI's API the
// views use: view, form (Map/NamedSection/GridSection/Flag/Value/ListValue), rpc.declare
// over ubus JSON-RPC, ui notifications, poll, E() and _(). ubus calls go to the harness
// server, which runs the real rpcd plugin and edits a real UCI file.
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

  var ubusId = 0;
  function ubus(object, method, params) {
    return fetch('/ubus', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++ubusId, method: 'call', params: ['00000000000000000000000000000000', object, method, params || {}] }),
    }).then(function (r) { return r.json(); }).then(function (reply) {
      if (reply.error) throw new Error(reply.error.message);
      if (reply.result[0] !== 0) throw new Error('ubus status ' + reply.result[0]);
      return reply.result[1];
    });
  }

  var rpc = {
    declare: function (opts) {
      return function () {
        var params = {};
        var args = arguments;
        (opts.params || []).forEach(function (p, i) { if (args[i] !== undefined) params[p] = args[i]; });
        return ubus(opts.object, opts.method, params).then(function (result) {
          if (!opts.expect) return result;
          var key = Object.keys(opts.expect)[0];
          if (key === '') return result;
          return result && result[key] !== undefined ? result[key] : opts.expect[key];
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

  var poll = {
    timers: [],
    add: function (fn, interval) {
      poll.timers.push(setInterval(fn, (interval || 5) * 1000));
    },
  };

  // ---- uci: values loaded over ubus, changes applied on save ----
  var uci = {
    load: function (config) {
      return ubus('uci', 'get', { config: config }).then(function (r) { uci.values = r.values; return r.values; });
    },
  };

  // ---- form ----
  var datatypes = {
    uinteger: function (v) { return /^\d+$/.test(v) || _('Expecting a non-negative integer'); },
    integer: function (v) { return /^-?\d+$/.test(v) || _('Expecting an integer'); },
    port: function (v) { return (/^\d+$/.test(v) && +v <= 65535) || _('Expecting a port number (0-65535)'); },
    ipaddr: function (v) { return /^[0-9a-fA-F.:]+$/.test(v) || _('Expecting an IP address'); },
  };

  function AbstractValue(section, option, title, description) {
    this.section = section; this.option = option; this.title = title; this.description = description;
    this.keylist = []; this.vallist = []; this.rmempty = true; this.default = null;
  }
  AbstractValue.prototype.value = function (k, v) { this.keylist.push(k); this.vallist.push(v != null ? v : k); };
  AbstractValue.prototype.cfgvalue = function (sid) {
    var s = this.section.map.data[sid] || {};
    return s[this.option] != null ? s[this.option] : null;
  };
  AbstractValue.prototype.widget = function (sid) {
    var id = 'widget.cbid.' + this.section.map.config + '.' + sid + '.' + this.option;
    var value = this.cfgvalue(sid);
    if (value == null) value = this.default != null ? this.default : '';
    var node;
    if (this.kind === 'flag') {
      node = E('input', { type: 'checkbox', id: id });
      node.checked = value === '1';
    } else if (this.kind === 'list') {
      node = E('select', { id: id }, this.keylist.map(function (k, i) { return E('option', { value: k }, this.vallist[i]); }, this));
      node.value = value;
    } else {
      node = E('input', { type: this.password ? 'password' : 'text', id: id, placeholder: this.placeholder || '' });
      node.value = value;
      if (this.keylist.length) {
        var listId = id + '.list';
        node.setAttribute('list', listId);
        node = E('span', {}, [node, E('datalist', { id: listId }, this.keylist.map(function (k, i) { return E('option', { value: k }, this.vallist[i]); }, this))]);
      }
    }
    return node;
  };
  AbstractValue.prototype.formvalue = function (sid) {
    var el = document.getElementById('widget.cbid.' + this.section.map.config + '.' + sid + '.' + this.option);
    if (!el) return null;
    if (this.kind === 'flag') return el.checked ? '1' : '0';
    return el.value;
  };
  AbstractValue.prototype.check = function (sid, value) {
    if (value === '' ) return this.rmempty ? true : _('This field is required');
    if (this.datatype && datatypes[this.datatype]) { var ok = datatypes[this.datatype](value); if (ok !== true) return ok; }
    if (this.validate) return this.validate(sid, value);
    return true;
  };

  function makeOption(kind) {
    function Option() { AbstractValue.apply(this, arguments); this.kind = kind; }
    Option.prototype = Object.create(AbstractValue.prototype);
    return Option;
  }

  function Section(map, type, title, description, name) {
    this.map = map; this.sectiontype = type; this.title = title; this.description = description;
    this.children = []; this.name = name;
  }
  Section.prototype.option = function (Kind, option, title, description) {
    var o = new Kind(this, option, title, description);
    this.children.push(o);
    return o;
  };
  Section.prototype.cfgsections = function () {
    var map = this.map;
    if (this.name) return [this.name];
    return Object.keys(map.data).filter(function (sid) { return map.data[sid]['.type'] === this.sectiontype; }, this)
      .sort(function (a, b) { return map.data[a]['.index'] - map.data[b]['.index']; });
  };

  function NamedSection(map, name, type, title, description) { Section.call(this, map, type, title, description, name); }
  NamedSection.prototype = Object.create(Section.prototype);
  NamedSection.prototype.render = function () {
    var sid = this.name;
    return E('fieldset', { class: 'cbi-section', id: 'cbi-' + this.map.config + '-' + sid }, [
      this.title ? E('h3', {}, this.title) : null,
      this.description ? E('div', { class: 'cbi-section-descr' }, this.description) : null,
    ].concat(this.children.map(function (o) {
      return E('div', { class: 'cbi-value', 'data-name': o.option }, [
        E('label', { class: 'cbi-value-title', for: 'widget.cbid.' + this.map.config + '.' + sid + '.' + o.option }, o.title),
        E('div', { class: 'cbi-value-field' }, [o.widget(sid), o.description ? E('div', { class: 'cbi-value-description' }, o.description) : null]),
      ]);
    }, this)));
  };

  function GridSection(map, type, title, description) { Section.call(this, map, type, title, description); }
  GridSection.prototype = Object.create(Section.prototype);
  GridSection.prototype.render = function () {
    var self = this;
    var rows = this.cfgsections().map(function (sid) {
      return E('tr', { class: 'tr cbi-section-table-row', 'data-sid': sid }, self.children.map(function (o) {
        return E('td', { class: 'td cbi-value-field', 'data-title': o.title }, o.widget(sid));
      }).concat([E('td', { class: 'td cbi-section-actions' }, self.addremove ? E('button', {
        class: 'cbi-button cbi-button-remove', click: function () { self.map.remove(sid, self); },
      }, _('Delete')) : null)]));
    });
    var old = this.node;
    this.node = E('fieldset', { class: 'cbi-section cbi-tblsection', id: 'cbi-' + this.map.config + '-' + this.sectiontype }, [
      this.title ? E('h3', {}, this.title) : null,
      this.description ? E('div', { class: 'cbi-section-descr' }, this.description) : null,
      E('table', { class: 'table cbi-section-table' }, [
        E('tr', { class: 'tr table-titles' }, this.children.map(function (o) { return E('th', { class: 'th' }, o.title); }).concat([E('th', { class: 'th' })])),
      ].concat(rows)),
      this.addremove ? E('button', { class: 'cbi-button cbi-button-add', click: function () { self.map.add(self.sectiontype, self); } }, _('Add')) : null,
    ]);
    // Adding or removing a row redraws this table only, so edits elsewhere stay.
    if (old && old.parentNode) old.parentNode.replaceChild(this.node, old);
    return this.node;
  };

  function FormMap(config, title, description) {
    this.config = config; this.title = title; this.description = description; this.children = [];
    this.data = {}; this.added = {}; this.removed = {};
  }
  FormMap.prototype.section = function (Kind) {
    var args = Array.prototype.slice.call(arguments, 1);
    var s = Object.create(Kind.prototype);
    Kind.apply(s, [this].concat(args));
    this.children.push(s);
    return s;
  };
  FormMap.prototype.load = function () {
    var self = this;
    return uci.load(this.config).then(function (values) { self.data = values; });
  };
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
    sections.replaceChildren.apply(sections, this.children.map(function (s) { return s.render(); }));
  };
  FormMap.prototype.add = function (type, section) {
    var sid = 'new' + Object.keys(this.added).length;
    var max = Object.keys(this.data).reduce(function (m, k) { return Math.max(m, this.data[k]['.index']); }.bind(this), -1);
    this.data[sid] = { '.type': type, '.name': sid, '.anonymous': true, '.index': max + 1 };
    this.added[sid] = type;
    section.render();
  };
  FormMap.prototype.remove = function (sid, section) {
    if (this.added[sid]) delete this.added[sid]; else this.removed[sid] = true;
    delete this.data[sid];
    section.render();
  };
  /** Validates every field, then sends the changes as ubus uci calls and commits. */
  FormMap.prototype.save = function () {
    var self = this, errors = [], changes = [];
    this.root.querySelectorAll('.cbi-input-invalid').forEach(function (el) { el.classList.remove('cbi-input-invalid'); });
    this.children.forEach(function (s) {
      s.cfgsections().forEach(function (sid) {
        var values = {};
        s.children.forEach(function (o) {
          var v = o.formvalue(sid);
          if (v == null) return;
          var ok = o.check(sid, v);
          if (ok !== true) {
            errors.push(o.title + ': ' + ok);
            document.getElementById('widget.cbid.' + self.config + '.' + sid + '.' + o.option).classList.add('cbi-input-invalid');
            return;
          }
          if (v !== '' || !o.rmempty) values[o.option] = v;
          else if (o.cfgvalue(sid) != null) values[o.option] = null;
        });
        changes.push({ sid: sid, type: s.sectiontype, values: values });
      });
    });
    if (errors.length) {
      ui.addNotification(null, E('p', {}, errors.map(function (e) { return E('div', {}, document.createTextNode(e)); })), 'danger');
      return Promise.reject(new Error('invalid'));
    }
    var calls = Promise.resolve();
    Object.keys(this.removed).forEach(function (sid) {
      calls = calls.then(function () { return ubus('uci', 'delete', { config: self.config, section: sid }); });
    });
    changes.forEach(function (c) {
      calls = calls.then(function () {
        if (self.added[c.sid]) return ubus('uci', 'add', { config: self.config, type: c.type, values: c.values });
        return ubus('uci', 'set', { config: self.config, section: c.sid, values: c.values });
      });
    });
    return calls.then(function () { return ubus('uci', 'commit', { config: self.config }); }).then(function () {
      self.added = {}; self.removed = {};
      return self.load();
    }).then(function () { self.rerender(); });
  };

  var maps = [];
  var form = {
    Map: FormMap, NamedSection: NamedSection, GridSection: GridSection, TypedSection: GridSection,
    Flag: makeOption('flag'), Value: makeOption('value'), ListValue: makeOption('list'),
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

  var modules = { view: view, form: form, rpc: rpc, ui: ui, poll: poll, uci: uci };

  /** Loads view/<path>.js as luci.js does and renders it into #maincontent. */
  window.loadView = function (path) {
    return fetch('/luci-static/resources/view/' + path + '.js').then(function (r) { return r.text(); }).then(function (src) {
      var names = [], values = [];
      var re = /^\s*'require\s+([\w.]+)(?:\s+as\s+(\w+))?';/gm, m;
      while ((m = re.exec(src)) !== null) {
        if (!modules[m[1]]) throw new Error('the harness has no module ' + m[1]);
        names.push(m[2] || m[1]); values.push(modules[m[1]]);
      }
      var v = new Function(names.join(','), src).apply(window, values);
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
