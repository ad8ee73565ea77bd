/* -M virt virtio-mmio slots 0x10001000 + 0x1000*i, i = 0..7, on a machine without
 * -drive/-device: every slot answers
 *  1 MagicValue (0x000) = 0x74726976 ("virt")
 *  2 Version (0x004) = 1 (legacy, QEMU's default) or 2, the same in every slot
 *  3 DeviceID (0x008) = 0 (no device)
 * Prints "virt_virtio_probe: 8 empty slots". */
#include "virt.h"

VIRT_BEGIN
        li s0, VIRTIO_BASE
        li s1, VIRTIO_SLOTS
        li s2, 0                        /* version of slot 0 */
10:     TEST(1)
        lwu a1, 0x000(s0)
        FAIL_IF_NE(a1, 0x74726976)
        TEST(2)
        lwu a1, 0x004(s0)
        bnez s2, 11f
        mv s2, a1
        li t0, 1
        beq a1, t0, 11f
        li t0, 2
        bne a1, t0, fail
11:     bne a1, s2, fail
        TEST(3)
        lwu a1, 0x008(s0)
        FAIL_IF_NE(a1, 0)
        li t0, VIRTIO_STRIDE
        add s0, s0, t0
        addi s1, s1, -1
        bnez s1, 10b

        PUTS(msg_ok)
        j pass
VIRT_END

        .data
msg_ok: .asciz "virt_virtio_probe: 8 empty slots\n"
