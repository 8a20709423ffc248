// mqtt-packet's tracing via `debug` is never enabled in mqttd: a no-op keeps it out of the bundle.
module.exports = function createDebug() {
  const log = function () {};
  log.enabled = false;
  return log;
};
