'use strict';
'require baseclass';

// Shared by the views that take a topic filter (Settings' bridge topics, ACL, Rules): the
// broker's filter rule (src/broker/topics.ts) for a quick answer in the page. The broker, the
// rpcd plugin and the config reader check again; this only saves a round trip.

return baseclass.extend({
	/** Why `f` is not a topic filter, or null: '#' only as the whole last level, '+' only as a whole level (MQTT-4.7.1). */
	error: function(f) {
		var levels = f.split('/');
		for (var i = 0; i < levels.length; i++) {
			if (levels[i].indexOf('#') >= 0 && (levels[i] !== '#' || i !== levels.length - 1))
				return _('"#" must be a whole level and the last one');
			if (levels[i].indexOf('+') >= 0 && levels[i] !== '+')
				return _('"+" must be a whole level');
		}
		return null;
	}
});
