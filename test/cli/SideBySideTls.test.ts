// TLS flags of mosquitto_pub/sub and mqttd_pub/sub, side by side against Debian's mosquitto.
import { tlsSideBySide } from './tlsSideBySide';

tlsSideBySide('mosquitto');
