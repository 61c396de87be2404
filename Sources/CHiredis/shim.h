#ifndef DJINN_CHIREDIS_SHIM_H
#define DJINN_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/socket.h>
#endif
