'use strict';
'require baseclass';

// Shared by the explorer views (Topics, Live, Clients): how a payload and a byte count are shown.
// The broker sends at most 2 KiB of a payload (base64) and its full size; nothing here trusts it to be text.

function bytesOf(base64) {
	var bin = atob(base64 || ''), out = new Uint8Array(bin.length);
	for (var i = 0; i < bin.length; i++)
		out[i] = bin.charCodeAt(i);
	return out;
}

function hex(bytes) {
	var lines = [];
	for (var off = 0; off < bytes.length; off += 16) {
		var row = Array.prototype.slice.call(bytes.subarray(off, off + 16));
		lines.push(('0000' + off.toString(16)).slice(-4) + '  ' +
			row.map(function(b) { return ('0' + b.toString(16)).slice(-2); }).join(' ') +
			'  ' + row.map(function(b) { return b >= 32 && b < 127 ? String.fromCharCode(b) : '.'; }).join(''));
	}
	return lines.join('\n');
}

/** UTF-8 text, or null when the bytes are not (a cut may split the last character: allowed). */
function text(bytes, cut) {
	try {
		return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: cut });
	} catch (e) {
		return null;
	}
}

return baseclass.extend({
	/**
	 * The payload as the user asked (mode 'auto', 'text', 'json' or 'hex'):
	 * { kind, text, cut } where kind is what was shown and cut says the payload was longer.
	 */
	render: function(message, mode) {
		var bytes = bytesOf(message.payload), cut = message.size > bytes.length;
		var asText = text(bytes, cut);
		if (mode === 'hex' || (mode !== 'text' && asText === null))
			return { kind: 'hex', text: hex(bytes), cut: cut };
		if (asText === null)
			asText = new TextDecoder('utf-8').decode(bytes);
		if (mode !== 'text' && !cut && /^\s*[\[{]/.test(asText)) {
			try {
				return { kind: 'json', text: JSON.stringify(JSON.parse(asText), null, 2), cut: false };
			} catch (e) {
				if (mode === 'json')
					return { kind: 'text', text: asText, cut: cut, error: _('Not valid JSON: %s').format(e.message) };
			}
		}
		return { kind: 'text', text: asText, cut: cut };
	},

	/** A one-line preview for a table cell. */
	summary: function(message) {
		if (message.size === 0)
			return _('(empty)');
		var r = this.render(message, 'auto'), line = r.kind === 'json' ? JSON.stringify(JSON.parse(r.text)) : r.text;
		if (r.kind === 'hex')
			line = Array.prototype.map.call(bytesOf(message.payload).subarray(0, 24), function(b) { return ('0' + b.toString(16)).slice(-2); }).join(' ');
		line = line.replace(/\s+/g, ' ');
		return line.length > 80 || r.cut ? line.slice(0, 80) + '…' : line;
	},

	size: function(n) {
		return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB';
	},

	time: function(ms) {
		return ms ? new Date(ms).toLocaleTimeString() : '-';
	},

	/** A <pre> with the payload in the chosen mode, and a note when it was cut. */
	block: function(message, mode) {
		var r = this.render(message, mode);
		return E('div', { 'class': 'mqttd-payload', 'data-kind': r.kind }, [
			r.error ? E('div', { 'class': 'alert-message warning' }, [ document.createTextNode(r.error) ]) : null,
			E('pre', { 'style': 'white-space:pre-wrap;word-break:break-all;max-height:24em;overflow:auto;background:#f7f7f7;padding:6px' }, [ document.createTextNode(r.text) ]),
			r.cut ? E('div', { 'class': 'cbi-value-description' }, [ document.createTextNode(_('Showing the first %s of %s.').format(this.size(bytesOf(message.payload).length), this.size(message.size))) ]) : null
		]);
	}
});
