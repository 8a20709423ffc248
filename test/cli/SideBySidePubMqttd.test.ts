// mosquitto_pub and mqttd_pub, same invocations, against the mqttd broker this time: our
// tools and our broker together give what mosquitto's tool gives against our broker.
import { sideBySide } from './sideBySide';

sideBySide('pub', 'mqttd');
