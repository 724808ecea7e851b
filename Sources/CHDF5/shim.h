/* Sources/CHDF5/shim.h: serial HDF5 (Debian libhdf5-dev, pkg-config hdf5). */
#include <hdf5.h>

/* HDF5's type and flag constants are function-like macros (they call H5open()), which Swift does not
   import. Re-export the ones ingot uses. */
static inline hid_t CHDF5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t CHDF5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t CHDF5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t CHDF5_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t CHDF5_c_s1(void) { return H5T_C_S1; }
static inline unsigned CHDF5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned CHDF5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t CHDF5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t CHDF5_s_all(void) { return H5S_ALL; }
static inline hid_t CHDF5_e_default(void) { return H5E_DEFAULT; }
static inline hid_t CHDF5_s_scalar_create(void) { return H5Screate(H5S_SCALAR); }
