#!/usr/bin/env node
// Checkout entry point for `npx mqttd`: runs the bundle that `npm install` built.
require('../dist/mqttd.js');
