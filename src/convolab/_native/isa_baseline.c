/* Portable kernels: 16-byte vectors (SSE2 on every x86-64; GCC lowers them to what any
 * other target has). Always built and always runnable: the fallback of the dispatch and the
 * oracle's nearest neighbour among the compiled kernels. */
#define ISA baseline
#define VBYTES 16
#define F32_PIX1 8
#define F32_PIX2 6
#define F32_PIX4 0
#define F64_PIX1 8
#define F64_PIX2 6
#define F64_PIX4 0
#define F32_DW_PIX 6
#define F32_DW_NC 1
#define F64_DW_PIX 6
#define F64_DW_NC 1
#include "isa_template.h"
