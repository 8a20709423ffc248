#!/usr/bin/env node
// Checkout entry point for `npx mqttd_sub`: runs the bundle that `npm install` built.
require('../dist/mqttd_sub.js');
