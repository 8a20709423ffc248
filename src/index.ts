/**
 * mqttd as a library: an MQTT broker to embed in a Node program.
 *
 *   const broker = new Broker({ hooks: { authenticate: (r) => (r.username === 'me' ? 'ok' : 'bad-credentials') } });
 *   const server = new MqttServer(broker);
 *   await server.listen({ ...defaultListener(1883), bindAddress: '127.0.0.1' });
 *   broker.subscribe('sensors/#', (topic, payload) => console.log(topic, payload.toString()));
 *   broker.publish('hello', 'world', { retain: true });
 */
export { Broker, DEFAULT_LIMITS } from './broker/Broker';
export type { BrokerHooks, BrokerLimits, BrokerOptions, ClientInfo } from './broker/Broker';
export { Message } from './broker/Message';
export type { QoS } from './broker/Message';
export { MqttServer } from './server/MqttServer';
export { allowAll } from './auth/Security';
export type { AuthRequest, AuthResult, ClientIdentity, Security } from './auth/Security';
export { FileSecurity } from './auth/FileSecurity';
export { defaultConfig, defaultListener } from './config/BrokerConfig';
export type { BrokerConfig, ListenerConfig } from './config/BrokerConfig';
export { parseConfig, loadConfigFile } from './config/ConfigFile';
export { ConfigErrors } from './config/ConfigErrors';
export { FileError } from './config/FileError';
export { Daemon } from './daemon/Daemon';
export { FileStore } from './persistence/FileStore';
export { MemoryStore } from './persistence/MemoryStore';
export type { Store } from './persistence/Store';
export { Logger } from './log/Logger';
export { VERSION } from './version';
