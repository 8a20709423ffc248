'use strict';
'require baseclass';

// Shared by the views: a text node for any value, and a broker timestamp shown in local time.

return baseclass.extend({
	/** A text node: markup in names and payloads is shown, never run. */
	text: function(s) {
		return document.createTextNode(s == null ? '' : String(s));
	},

	/** Seconds since the epoch (as the status file and the rules state give them), or '-'. */
	when: function(seconds) {
		return seconds ? new Date(seconds * 1000).toLocaleString() : '-';
	}
});
