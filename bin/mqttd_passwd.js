#!/usr/bin/env node
// Checkout entry point for `npx mqttd_passwd`: runs the bundle that `npm install` built.
require('../dist/mqttd_passwd.js');
