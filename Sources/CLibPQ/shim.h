#ifndef DJINN_CLIBPQ_SHIM_H
#define DJINN_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
