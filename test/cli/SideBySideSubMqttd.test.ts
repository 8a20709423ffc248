// mosquitto_sub and mqttd_sub, same invocations, against the mqttd broker this time.
import { sideBySide } from './sideBySide';

sideBySide('sub', 'mqttd');
