/**
 * SOAP 1.2 for the simulated camera: XML into a small namespace-aware tree, envelopes and faults
 * as ONVIF devices write them. Shared by the ONVIF services (HTTP) and WS-Discovery (UDP).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const NS = {
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  ter: 'http://www.onvif.org/ver10/error',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
} as const;

/** The prefixes every envelope we write declares (the way gSOAP-based cameras declare them all). */
const ENVELOPE_XMLNS = `xmlns:env="${NS.soap12}" xmlns:ter="${NS.ter}" xmlns:tds="${NS.tds}" xmlns:trt="${NS.trt}" xmlns:tt="${NS.tt}" xmlns:dn="${NS.dn}" xmlns:wsa="${NS.wsa}" xmlns:d="${NS.wsd}"`;

export interface XmlElement {
  /** As written: `s:Envelope`. */
  readonly name: string;
  readonly local: string;
  /** Resolved namespace URI; undefined when the prefix is not declared. */
  readonly ns: string | undefined;
  /** Attributes by their written name (`s:mustUnderstand`). */
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's own text, trimmed. */
  readonly text: string;
  /** Prefix → namespace in scope here ('' is the default namespace). */
  readonly scope: ReadonlyMap<string, string>;
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

/** Anything larger is refused before parsing: ONVIF requests are a few kilobytes. */
export const MAX_XML_BYTES = 256 * 1024;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  // Also decodes numeric character references (`&#65;`), which XML has and the parser files under HTML.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type OrderedNode = Record<string, unknown>;

/** Parses a document into its root element; throws XmlError when it is not well-formed XML. */
export function parseXml(xml: string): XmlElement {
  if (Buffer.byteLength(xml, 'utf8') > MAX_XML_BYTES) throw new XmlError('document too large');
  // SOAP 1.2 Part 1, 5: a SOAP message MUST NOT contain a document type declaration (and with
  // none, no entity can be declared to expand).
  if (/<!DOCTYPE/i.test(xml)) throw new XmlError('document type declarations are not allowed');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new XmlError(`${valid.err.msg} (line ${valid.err.line})`);
  const nodes = parser.parse(xml) as OrderedNode[];
  const roots = nodes.flatMap((n) => build(n, new Map()) ?? []);
  if (roots.length !== 1 || !roots[0]) throw new XmlError('expected exactly one root element');
  return roots[0];
}

function build(node: OrderedNode, parentScope: ReadonlyMap<string, string>): XmlElement | undefined {
  const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text' && !k.startsWith('?'));
  if (name === undefined) return undefined;
  const attrs = (node[':@'] as Record<string, string> | undefined) ?? {};
  let scope = parentScope;
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'xmlns' || key.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      (scope as Map<string, string>).set(key === 'xmlns' ? '' : key.slice(6), value);
    }
  }
  const colon = name.indexOf(':');
  const prefix = colon < 0 ? '' : name.slice(0, colon);
  const content = (node[name] as OrderedNode[] | undefined) ?? [];
  const children: XmlElement[] = [];
  let text = '';
  for (const child of content) {
    if ('#text' in child) text += String(child['#text']);
    else {
      const el = build(child, scope);
      if (el) children.push(el);
    }
  }
  return {
    name,
    local: colon < 0 ? name : name.slice(colon + 1),
    ns: scope.get(prefix),
    attrs,
    children,
    text,
    scope,
  };
}

/** The first child with this local name (and namespace, when given). */
export function child(el: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return el?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function children(el: XmlElement | undefined, local: string): XmlElement[] {
  return el?.children.filter((c) => c.local === local) ?? [];
}

/** Follows a path of local names: `path(env, 'Body', 'Probe', 'Types')`. */
export function path(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let at = el;
  for (const local of locals) at = child(at, local);
  return at;
}

export function textOf(el: XmlElement | undefined, ...locals: string[]): string | undefined {
  return path(el, ...locals)?.text;
}

/** An attribute by local name, whatever its prefix. */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (!el) return undefined;
  for (const [key, value] of Object.entries(el.attrs)) {
    if (key === local || key.endsWith(`:${local}`)) return value;
  }
  return undefined;
}

/** Resolves a QName written in element content (`dn:NetworkVideoTransmitter`) against its scope. */
export function resolveQName(el: XmlElement, qname: string): { ns: string | undefined; local: string } {
  const colon = qname.indexOf(':');
  if (colon < 0) return { ns: el.scope.get(''), local: qname };
  return { ns: el.scope.get(qname.slice(0, colon)), local: qname.slice(colon + 1) };
}

export function escapeXml(value: string | number | boolean): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `<tt:Width>1920</tt:Width>`; the value is escaped. */
export function el(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(value)}</${name}>`;
}

export function envelope(body: string, header = ''): string {
  const head = header ? `<env:Header>${header}</env:Header>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope ${ENVELOPE_XMLNS}>${head}<env:Body>${body}</env:Body></env:Envelope>`;
}

export type FaultCode = 'Sender' | 'Receiver' | 'VersionMismatch' | 'MustUnderstand';

/** A SOAP 1.2 fault; subcodes are ONVIF's `ter:` codes, outermost first (ONVIF Core 5.11.2). */
export class SoapFault extends Error {
  override readonly name = 'SoapFault';
  constructor(
    readonly code: FaultCode,
    readonly subcodes: readonly string[],
    readonly reason: string,
  ) {
    super(`${code}${subcodes.map((s) => `/${s}`).join('')}: ${reason}`);
  }

  /** SOAP 1.2 Part 2, 7.5.1.2: env:Sender → 400 Bad Request, every other fault → 500. */
  get httpStatus(): number {
    return this.code === 'Sender' ? 400 : 500;
  }

  toXml(): string {
    const sub = this.subcodes.reduceRight(
      (inner, code) => `<env:Subcode><env:Value>${escapeXml(code)}</env:Value>${inner}</env:Subcode>`,
      '',
    );
    return envelope(
      `<env:Fault><env:Code><env:Value>env:${this.code}</env:Value>${sub}</env:Code>` +
        `<env:Reason><env:Text xml:lang="en">${escapeXml(this.reason)}</env:Text></env:Reason></env:Fault>`,
    );
  }
}

/** ONVIF Core 5.11.2.1, generic faults, with the reasons the specification gives them. */
export const faults = {
  notAuthorized: () =>
    new SoapFault(
      'Sender',
      ['ter:NotAuthorized'],
      'Sender not Authorized. The action requested requires authorization and the sender is not authorized',
    ),
  wellFormed: (detail: string) =>
    new SoapFault(
      'Sender',
      ['ter:WellFormed'],
      `Well-formed Error: XML Well-formed violation occurred: ${detail}`,
    ),
  versionMismatch: () =>
    new SoapFault('VersionMismatch', [], 'SOAP version mismatch: expected a SOAP 1.2 envelope'),
  invalidArgs: (detail: string) => new SoapFault('Sender', ['ter:InvalidArgs'], `Invalid Args: ${detail}`),
  invalidArgVal: (subcode: string, detail: string) =>
    new SoapFault('Sender', ['ter:InvalidArgVal', `ter:${subcode}`], `Argument Value Invalid: ${detail}`),
  actionNotSupported: (action: string) =>
    new SoapFault(
      'Receiver',
      ['ter:ActionNotSupported'],
      `Optional Action Not Implemented: ${action} is not implemented by this device`,
    ),
  noSuchService: (detail: string) =>
    new SoapFault('Receiver', ['ter:ActionNotSupported', 'ter:NoSuchService'], `No Such Service: ${detail}`),
  actionFailed: () => new SoapFault('Receiver', ['ter:Action'], 'Action Failed'),
};

export interface SoapRequest {
  envelope: XmlElement;
  header: XmlElement | undefined;
  /** The first element of the Body: the operation. */
  operation: XmlElement;
}

/** Reads a SOAP 1.2 request; anything else becomes the fault a device answers with. */
export function parseSoapRequest(xml: string): SoapRequest {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    throw faults.wellFormed((err as Error).message);
  }
  // SOAP 1.2 Part 1, 5.4.7: a root that is not env:Envelope of SOAP 1.2 is a version mismatch.
  if (root.local !== 'Envelope' || root.ns !== NS.soap12) throw faults.versionMismatch();
  const body = child(root, 'Body', NS.soap12);
  if (!body) throw faults.wellFormed('the envelope has no Body');
  const operation = body.children[0];
  if (!operation) throw faults.invalidArgs('the Body is empty');
  return { envelope: root, header: child(root, 'Header', NS.soap12), operation };
}
