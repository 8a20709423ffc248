// TLS flags of mosquitto_pub/sub and mqttd_pub/sub, side by side against the mqttd broker.
import { tlsSideBySide } from './tlsSideBySide';

tlsSideBySide('mqttd');
