import { describe, expect, it } from 'vitest';
import { IndicatorError } from '../../src/intel/errors.js';
import { parseIndicator, tryParseIndicator, type IndicatorKind } from '../../src/intel/indicator.js';
import { OffpathError } from '../../src/util/errors.js';

/** [input, kind, canonical text, extra checks] */
const ACCEPT: [string, IndicatorKind, string][] = [
  ['198.18.0.5', 'ipv4', '198.18.0.5'],
  ['0.0.0.0', 'ipv4', '0.0.0.0'],
  ['255.255.255.255', 'ipv4', '255.255.255.255'],
  ['  198.18.0.5\t', 'ipv4', '198.18.0.5'],
  ['198.18.0.5/32', 'ipv4', '198.18.0.5'],
  ['2001:db8::1', 'ipv6', '2001:db8::1'],
  ['2001:DB8:0:0:0:0:0:1', 'ipv6', '2001:db8::1'],
  ['::', 'ipv6', '::'],
  ['::1', 'ipv6', '::1'],
  ['1::', 'ipv6', '1::'],
  ['fe80::1:2', 'ipv6', 'fe80::1:2'],
  ['::ffff:198.18.0.5', 'ipv6', '::ffff:c612:5'],
  ['64:ff9b::192.0.2.33', 'ipv6', '64:ff9b::c000:221'],
  ['2001:db8:0:1:1:1:1:1', 'ipv6', '2001:db8:0:1:1:1:1:1'],
  ['[2001:db8::1]', 'ipv6', '2001:db8::1'],
  ['2001:db8::1/128', 'ipv6', '2001:db8::1'],
  ['198.18.0.0/15', 'cidr4', '198.18.0.0/15'],
  ['0.0.0.0/0', 'cidr4', '0.0.0.0/0'],
  ['10.0.0.0/8', 'cidr4', '10.0.0.0/8'],
  ['192.0.2.128/25', 'cidr4', '192.0.2.128/25'],
  ['192.0.2.254/31', 'cidr4', '192.0.2.254/31'],
  ['2001:db8::/32', 'cidr6', '2001:db8::/32'],
  ['::/0', 'cidr6', '::/0'],
  ['2001:db8:0:0:8000::/65', 'cidr6', '2001:db8:0:0:8000::/65'],
  ['2001:db8::fffe/127', 'cidr6', '2001:db8::fffe/127'],
  ['198.18.0.5:443', 'ip-port', '198.18.0.5:443'],
  ['198.18.0.5:443/tcp', 'ip-port', '198.18.0.5:443/tcp'],
  ['198.18.0.5:53/UDP', 'ip-port', '198.18.0.5:53/udp'],
  ['198.18.0.5:65535', 'ip-port', '198.18.0.5:65535'],
  ['198.18.0.5:1', 'ip-port', '198.18.0.5:1'],
  ['[2001:2::1]:53/udp', 'ip-port', '[2001:2::1]:53/udp'],
  ['[2001:0002:0000::1]:443', 'ip-port', '[2001:2::1]:443'],
  ['[::1]:8080/Tcp', 'ip-port', '[::1]:8080/tcp'],
  ['example.com', 'domain', 'example.com'],
  ['Mail.EXAMPLE.com.', 'domain', 'mail.example.com'],
  ['xn--bcher-kva.example', 'domain', 'xn--bcher-kva.example'],
  ['a-b.c-d.io', 'domain', 'a-b.c-d.io'],
  ['123.example.com', 'domain', '123.example.com'],
  ['3com.com', 'domain', '3com.com'],
  [`${'a'.repeat(63)}.com`, 'domain', `${'a'.repeat(63)}.com`],
  [`${'abcdefghi.'.repeat(24)}example.com`, 'domain', `${'abcdefghi.'.repeat(24)}example.com`],
];

/** [input, fragment expected in the message] */
const REJECT: [string, string][] = [
  ['', 'empty'],
  ['   ', 'empty'],
  ['198.18.0', 'not a valid IPv4'],
  ['198.18.0.256', 'not a valid IPv4'],
  ['198.18.0.05', 'not a valid IPv4'],
  ['198.18.0.5.6', 'not a valid IPv4'],
  ['198.18..5', 'not a valid IPv4'],
  ['-1.0.0.0', 'label'],
  ['1.2.3.4/33', 'out of range'],
  ['1.2.3.4/-1', 'not a decimal'],
  ['1.2.3.0/024', 'not a decimal'],
  ['1.2.3.0/', 'not a decimal'],
  ['1.2.3.0/x', 'not a decimal'],
  ['1.2.3.0/1000', 'not a decimal'],
  ['198.18.0.5/24', 'host bits'],
  ['2001:db8::1/64', 'host bits'],
  ['2001:db8::/129', 'out of range'],
  ['2001:db8::/999', 'out of range'],
  ['2001:db8:::1', 'not a valid IPv6'],
  ['2001:db8::1::2', 'not a valid IPv6'],
  ['1:2:3:4:5:6:7:8:9', 'not a valid IPv6'],
  ['2001:db8::g', 'not a valid IPv6'],
  ['12345::', 'not a valid IPv6'],
  ['fe80::1%eth0', 'not a valid IPv6'],
  ['::ffff:1.2.3', 'not a valid IPv6'],
  ['198.18.0.5:0', 'port 0'],
  ['198.18.0.5:65536', 'out of range'],
  ['198.18.0.5:99999', 'out of range'],
  ['198.18.0.5:', 'missing port'],
  ['198.18.0.5:08', 'not a decimal'],
  ['198.18.0.5:http', 'not a decimal'],
  ['198.18.0.5:-1', 'not a decimal'],
  ['198.18.0.5:123456', 'not a decimal'],
  ['198.18.0.5:443/sctp', 'not a decimal'],
  ['198.18.0.5/tcp', 'needs a port'],
  ['198.18.0.0/24:443', 'not a decimal'],
  ['[2001:db8::1]:0', 'port 0'],
  ['[2001:db8::1]:443/icmp', 'unknown protocol'],
  ['[2001:db8::1', 'missing "]"'],
  ['[2001:db8::1]443', 'after "]"'],
  ['[198.18.0.5]:443', 'not a valid IPv6'],
  ['2001:db8::1/tcp', 'bracketed'],
  ['1.2.3.4 5.6.7.8', 'whitespace'],
  ['1.2.3.4\u0000', 'control'],
  ['exa mple.com', 'whitespace'],
  ['localhost', 'two labels'],
  ['example', 'two labels'],
  ['-bad.example.com', 'hyphen'],
  ['bad-.example.com', 'hyphen'],
  ['under_score.example.com', 'characters other than'],
  ['*.example.com', 'characters other than'],
  ['example..com', 'empty label'],
  ['.example.com', 'empty label'],
  ['example.com..', 'empty label'],
  ['example.123', 'all digits'],
  [`${'a'.repeat(64)}.com`, '64 characters'],
  [`${'abcdefghi.'.repeat(25)}example.com`, 'at most 253'],
  ['http://example.com/x', 'URL'],
  ['example.com/path', 'not a decimal'],
  ['bücher.example', 'non-ASCII'],
  ['пример.рф', 'non-ASCII'],
  ['1.2.3.4\u200b', 'non-ASCII'],
  ['ex\u00e4mple.com', 'non-ASCII'],
  ['😀', 'non-ASCII'],
  ['x'.repeat(301), 'too long'],
  ['1'.repeat(100000), 'too long'],
  [':', 'not a valid IPv4'],
  ['::/', 'not a decimal'],
  ['[]', 'not a valid IPv6'],
  ['/', 'not a decimal'],
];

describe('indicator grammar: accepted forms', () => {
  it.each(ACCEPT)('%s -> %s %s', (input, kind, text) => {
    const parsed = parseIndicator(input);
    expect(parsed.kind).toBe(kind);
    expect(parsed.text).toBe(text);
    // Canonical text parses back to itself (ids derived from it are stable).
    expect(parseIndicator(parsed.text).text).toBe(text);
  });

  it('decodes values, not only text', () => {
    const p = parseIndicator('198.18.0.5:443/tcp');
    expect(p).toMatchObject({ family: 4, v4: 0xc6120005, port: 443, protocol: 'tcp', prefixLength: 32 });
    const c = parseIndicator('2001:db8::/32');
    expect([...c.v6!]).toEqual([0x20010db8, 0, 0, 0]);
    expect(c.prefixLength).toBe(32);
    expect(parseIndicator('10.0.0.0/8').v4).toBe(0x0a000000);
    expect(parseIndicator('[2001:2::1]:53/udp')).toMatchObject({ family: 6, port: 53, protocol: 'udp' });
    expect(parseIndicator('Example.COM').domain).toBe('example.com');
  });

  it('an unbracketed IPv6 ending in a number is an address, not address:port', () => {
    expect(parseIndicator('2001:db8::1:53').kind).toBe('ipv6');
  });

  it('masks host bits only when asked', () => {
    expect(() => parseIndicator('198.18.0.5/24')).toThrow(/198\.18\.0\.0\/24/);
    expect(parseIndicator('198.18.0.5/24', { hostBits: 'mask' }).text).toBe('198.18.0.0/24');
    expect(parseIndicator('2001:db8::1/64', { hostBits: 'mask' }).text).toBe('2001:db8::/64');
    expect(parseIndicator('255.255.255.255/0', { hostBits: 'mask' }).text).toBe('0.0.0.0/0');
  });
});

describe('indicator grammar: rejected forms', () => {
  it.each(REJECT)('%j is rejected (%s)', (input, fragment) => {
    let error: unknown;
    try {
      parseIndicator(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IndicatorError);
    expect(error).toBeInstanceOf(OffpathError);
    const e = error as IndicatorError;
    expect(e.code).toBe('intel_indicator');
    expect(e.message).toContain(fragment);
    expect(e.hint, 'every error says what is accepted').toBeTruthy();
    expect(e.message.length, 'messages stay short whatever the input').toBeLessThan(600);
  });

  it('tryParseIndicator returns the error instead of throwing', () => {
    expect(tryParseIndicator('nope')).toBeInstanceOf(IndicatorError);
    expect(tryParseIndicator('1.2.3.4')).toMatchObject({ kind: 'ipv4' });
  });

  it('rejects non-strings with a typed error', () => {
    expect(() => parseIndicator(42 as unknown as string)).toThrow(IndicatorError);
  });
});
