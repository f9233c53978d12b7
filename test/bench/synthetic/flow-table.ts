/**
 * State of the flows that are active at one moment, as parallel typed arrays indexed by a slot number (no object
 * per flow: tens of thousands are live at once and a million pass through). Slots are recycled through a free
 * list and the arrays double when full.
 */

export const enum FlowKind {
  Tcp = 0,
  Udp = 1,
  Icmp = 2,
}

export class FlowTable {
  capacity = 0;
  private freeSlots: number[] = [];
  private used = 0;
  /** Most flows live at the same time so far: how much concurrency the capture really has. */
  peakActive = 0;

  kind: Uint8Array = new Uint8Array(0);
  v6: Uint8Array = new Uint8Array(0);
  vlan: Uint16Array = new Uint16Array(0);
  /** IPv4 address in *Lo; IPv6 is 2001:2:0:<hi>:<mid>:<lo> with hi/mid/lo as 16/32/32-bit words (see AddressPlan). */
  cHi: Uint32Array = new Uint32Array(0);
  cMid: Uint32Array = new Uint32Array(0);
  cLo: Uint32Array = new Uint32Array(0);
  sHi: Uint32Array = new Uint32Array(0);
  sMid: Uint32Array = new Uint32Array(0);
  sLo: Uint32Array = new Uint32Array(0);
  cPort: Uint16Array = new Uint16Array(0);
  sPort: Uint16Array = new Uint16Array(0);
  /** TCP: next sequence number of each side. UDP/ICMP: per-direction packet counters. */
  cNxt: Uint32Array = new Uint32Array(0);
  sNxt: Uint32Array = new Uint32Array(0);
  cIpId: Uint16Array = new Uint16Array(0);
  sIpId: Uint16Array = new Uint16Array(0);
  cTtl: Uint8Array = new Uint8Array(0);
  sTtl: Uint8Array = new Uint8Array(0);
  flowLabel: Uint32Array = new Uint32Array(0);
  /** Server index in the address plan (its host name is used for SNI, Host and DNS). */
  nameIdx: Uint32Array = new Uint32Array(0);
  /** Per-kind extra: DNS txid | qtype << 16; RTP SSRC; ICMP echo identifier; HTTP path index. */
  aux: Uint32Array = new Uint32Array(0);
  /** DNS: answer count (0xff = no response planned) | rcode << 8. */
  aux2: Uint32Array = new Uint32Array(0);
  /** Packet script of each flow (see flow-script.ts) and the index of its next packet. */
  scripts: (Int32Array | null)[] = [];
  pos: Uint32Array = new Uint32Array(0);

  constructor(initialCapacity = 1 << 16) {
    this.grow(initialCapacity);
  }

  alloc(): number {
    if (this.freeSlots.length === 0) this.grow(this.capacity * 2);
    const slot = this.freeSlots.pop()!;
    this.used++;
    if (this.used > this.peakActive) this.peakActive = this.used;
    return slot;
  }

  free(slot: number): void {
    this.scripts[slot] = null; // let the script be collected
    this.freeSlots.push(slot);
    this.used--;
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const u8 = (a: Uint8Array): Uint8Array => copyInto(new Uint8Array(capacity), a);
    const u16 = (a: Uint16Array): Uint16Array => copyInto(new Uint16Array(capacity), a);
    const u32 = (a: Uint32Array): Uint32Array => copyInto(new Uint32Array(capacity), a);
    this.kind = u8(this.kind);
    this.v6 = u8(this.v6);
    this.vlan = u16(this.vlan);
    this.cHi = u32(this.cHi);
    this.cMid = u32(this.cMid);
    this.cLo = u32(this.cLo);
    this.sHi = u32(this.sHi);
    this.sMid = u32(this.sMid);
    this.sLo = u32(this.sLo);
    this.cPort = u16(this.cPort);
    this.sPort = u16(this.sPort);
    this.cNxt = u32(this.cNxt);
    this.sNxt = u32(this.sNxt);
    this.cIpId = u16(this.cIpId);
    this.sIpId = u16(this.sIpId);
    this.cTtl = u8(this.cTtl);
    this.sTtl = u8(this.sTtl);
    this.flowLabel = u32(this.flowLabel);
    this.nameIdx = u32(this.nameIdx);
    this.aux = u32(this.aux);
    this.aux2 = u32(this.aux2);
    this.pos = u32(this.pos);
    for (let i = old; i < capacity; i++) this.scripts.push(null);
    // Push in reverse so low slot numbers are handed out first (keeps the hot part of the arrays small).
    for (let i = capacity - 1; i >= old; i--) this.freeSlots.push(i);
    this.capacity = capacity;
  }
}

function copyInto<T extends { set(src: ArrayLike<number>): void }>(target: T, source: ArrayLike<number>): T {
  target.set(source);
  return target;
}
