// mosquitto_pub and mqttd_pub, same invocations, same broker: same stdout, exit code, and
// what a mosquitto_sub observer receives.
import { sideBySide } from './sideBySide';

sideBySide('pub');
