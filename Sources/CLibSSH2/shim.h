#ifndef DJINN_CLIBSSH2_SHIM_H
#define DJINN_CLIBSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>

// Function-like macros Swift does not import: libssh2's documented defaults, spelled out.
static const unsigned int djinn_ssh2_channel_window_default = LIBSSH2_CHANNEL_WINDOW_DEFAULT;
static const unsigned int djinn_ssh2_channel_packet_default = LIBSSH2_CHANNEL_PACKET_DEFAULT;

#endif
