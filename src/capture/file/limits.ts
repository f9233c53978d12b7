/**
 * The largest record a capture file may declare. libpcap and Wireshark both refuse records above 256 KiB
 * (MAXIMUM_SNAPLEN / WTAP_MAX_PACKET_SIZE_STANDARD) for the link types we read; a larger length means the
 * file is corrupt, and trusting it would make us read garbage as packets.
 */
export const MAX_RECORD_BYTES = 262144;
