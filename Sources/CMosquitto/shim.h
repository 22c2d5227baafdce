// libmosquitto (Debian: libmosquitto-dev), the MQTT client HearthPanel uses to talk to a home panel's broker.
#include <mosquitto.h>
