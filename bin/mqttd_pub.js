#!/usr/bin/env node
// Checkout entry point for `npx mqttd_pub`: runs the bundle that `npm install` built.
require('../dist/mqttd_pub.js');
