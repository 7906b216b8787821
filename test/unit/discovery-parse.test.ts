import { describe, expect, it } from 'vitest';
import { expandTargets, parseProbeMatches } from '../../hub/src/cameras/discovery.js';

const ID = 'uuid:6a1f8e0c-2b1a-4c57-9d3e-1f2a3b4c5d6e';

// The shape of a ProbeMatches from a cheap entry camera (Hikvision-style prefixes).
const reply = (
  relatesTo: string,
  xaddrs = 'http://127.0.0.2:8000/onvif/device_service',
) => `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<env:Header><wsadis:MessageID>urn:uuid:aaaa-bbbb</wsadis:MessageID><wsadis:RelatesTo>${relatesTo}</wsadis:RelatesTo>
<wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To>
<wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action></env:Header>
<env:Body><d:ProbeMatches><d:ProbeMatch>
<wsadis:EndpointReference><wsadis:Address>urn:uuid:11111111-2222-3333-4444-555555555555</wsadis:Address></wsadis:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/C%E1%BB%95ng%20ch%C3%ADnh onvif://www.onvif.org/location/city/LamThao onvif://www.onvif.org/hardware/DS-2CD1023</d:Scopes>
<d:XAddrs>${xaddrs}</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>`;

describe('parseProbeMatches', () => {
  it('reads endpoint, device address, name, location and hardware from a camera reply', () => {
    expect(parseProbeMatches(reply(ID), ID, '127.0.0.2')).toEqual([
      {
        endpoint: 'urn:uuid:11111111-2222-3333-4444-555555555555',
        address: '127.0.0.2:8000',
        xaddrs: ['http://127.0.0.2:8000/onvif/device_service'],
        name: 'Cổng chính',
        location: 'city/LamThao',
        hardware: 'DS-2CD1023',
        from: '127.0.0.2',
      },
    ]);
  });

  it('keeps only http(s) XAddrs, and a camera with several addresses by its first', () => {
    const cams = parseProbeMatches(
      reply(ID, 'file:///etc/passwd http://127.0.0.3/onvif/device_service http://[::1]:80/x'),
      ID,
      '127.0.0.3',
    );
    expect(cams?.[0]).toMatchObject({ address: '127.0.0.3', xaddrs: expect.any(Array) });
    expect(cams?.[0]?.xaddrs).not.toContain('file:///etc/passwd');
  });

  it('drops a reply to somebody else’s probe, non-XML, and a reply without usable XAddrs', () => {
    expect(parseProbeMatches(reply('uuid:other'), ID, 'x')).toBeUndefined();
    expect(parseProbeMatches('not xml at all <<<', ID, 'x')).toBeUndefined();
    expect(parseProbeMatches('{"json":true}', ID, 'x')).toBeUndefined();
    expect(parseProbeMatches(reply(ID, 'ftp://127.0.0.2/'), ID, 'x')).toEqual([]);
  });
});

describe('expandTargets', () => {
  it('expands a CIDR range into its host addresses, and keeps single addresses', () => {
    expect(expandTargets(['127.0.0.0/30'])).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(expandTargets(['127.0.0.5', '127.0.0.5/32'])).toEqual(['127.0.0.5']);
    expect(expandTargets(['127.1.2.0/24'])).toHaveLength(254);
  });

  it('refuses what is not an IPv4 address or range, and ranges larger than /22', () => {
    for (const bad of ['camera.local', '300.1.1.1', '127.0.0.0/8', '127.0.0.0/abc', '::1', '127.0.0.0/33']) {
      expect(() => expandTargets([bad])).toThrow(expect.objectContaining({ code: 'KHU_BAD_REQUEST' }));
    }
  });
});
