/* Sources/CZstd/shim.h: libzstd (Debian libzstd-dev, pkg-config libzstd). */
#include <zstd.h>
