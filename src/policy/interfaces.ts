/**
 * Well-known DCE/RPC interfaces and the built-in interface sets a rule can name
 * (MS-OXCRPC 1.9, MS-NSPI 1.9, MS-OXABREF 3.1.4; versions are what the servers register).
 */

export interface KnownInterface {
  /** Short name used in logs ("EMSMDB"). */
  name: string;
  /** Lower-case text UUID. */
  uuid: string;
  major: number;
  minor: number;
  description: string;
}

export const EPM_UUID = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';
export const EMSMDB_UUID = 'a4f1db00-ca47-1067-b31f-00dd010662da';
export const ASYNC_EMSMDB_UUID = '5261574a-4572-206e-b268-6b199213b4e4';
export const NSPI_UUID = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
export const RFR_UUID = '1544f5e0-613c-11d1-93df-00c04fd7bd09';

export const EPM: KnownInterface = { name: 'EPM', uuid: EPM_UUID, major: 3, minor: 0, description: 'endpoint mapper' };
export const EMSMDB: KnownInterface = {
  name: 'EMSMDB', uuid: EMSMDB_UUID, major: 0, minor: 81, description: 'Exchange store (MS-OXCRPC)',
};
export const ASYNC_EMSMDB: KnownInterface = {
  name: 'AsyncEMSMDB', uuid: ASYNC_EMSMDB_UUID, major: 0, minor: 1,
  description: 'Exchange asynchronous notifications (MS-OXCRPC 3.3)',
};
export const NSPI: KnownInterface = {
  name: 'NSPI', uuid: NSPI_UUID, major: 56, minor: 0, description: 'Exchange address book (MS-NSPI)',
};
export const RFR: KnownInterface = {
  name: 'RFR', uuid: RFR_UUID, major: 1, minor: 0, description: 'Exchange address book referral (MS-OXABREF)',
};

/** Every interface with a name, for log labels. Only the Exchange four are published by sets. */
export const KNOWN_INTERFACES: readonly KnownInterface[] = [
  EPM, EMSMDB, ASYNC_EMSMDB, NSPI, RFR,
  { name: 'XDS', uuid: 'f5cc5a7c-4264-101a-8c59-08002b2f8426', major: 21, minor: 0, description: 'AD extended directory service' },
  { name: 'ExchangeStoreAdmin', uuid: 'a4f1db00-ca47-1067-b31e-00dd010662da', major: 1, minor: 0, description: 'Exchange store admin' },
  { name: 'ExchangeStoreAdmin2', uuid: '89742ace-a9ed-11cf-9c0c-08002be7ae86', major: 2, minor: 0, description: 'Exchange store admin' },
  { name: 'ExchangeStoreAdmin3', uuid: '99e64010-b032-11d0-97a4-00c04fd6551d', major: 3, minor: 0, description: 'Exchange store admin' },
  { name: 'ExchangeMTA', uuid: '9e8ee830-4459-11ce-979b-00aa005ffebe', major: 2, minor: 0, description: 'Exchange MTA' },
  { name: 'ExchangeMTAQAdmin', uuid: '38a94e72-a9bc-11d2-8faf-00c04fa378ff', major: 1, minor: 0, description: 'Exchange MTA queue admin' },
  { name: 'ExchangeSAPrivate', uuid: '83d72bf0-0d89-11ce-b13f-00aa003bac6c', major: 6, minor: 0, description: 'Exchange System Attendant (private)' },
  { name: 'ExchangeSAPublic', uuid: '469d6ec0-0d87-11ce-b13f-00aa003bac6c', major: 16, minor: 0, description: 'Exchange System Attendant (public)' },
  { name: 'samr', uuid: '12345778-1234-abcd-ef00-0123456789ac', major: 1, minor: 0, description: 'Security Account Manager (MS-SAMR)' },
  { name: 'lsarpc', uuid: '12345778-1234-abcd-ef00-0123456789ab', major: 0, minor: 0, description: 'Local Security Authority (MS-LSAD)' },
  { name: 'srvsvc', uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0, description: 'Server service (MS-SRVS)' },
  { name: 'wkssvc', uuid: '6bffd098-a112-3610-9833-46c3f87e345a', major: 1, minor: 0, description: 'Workstation service (MS-WKST)' },
  { name: 'winreg', uuid: '338cd001-2244-31f1-aaaa-900038001003', major: 1, minor: 0, description: 'Remote registry (MS-RRP)' },
  { name: 'netlogon', uuid: '12345678-1234-abcd-ef00-01234567cffb', major: 1, minor: 0, description: 'Netlogon (MS-NRPC)' },
  { name: 'drsuapi', uuid: 'e3514235-4b06-11d1-ab04-00c04fc2dcd2', major: 4, minor: 0, description: 'Directory replication (MS-DRSR)' },
  { name: 'svcctl', uuid: '367abb81-9844-35f1-ad32-98f038001003', major: 2, minor: 0, description: 'Service control manager (MS-SCMR)' },
];

const BY_UUID = new Map<string, KnownInterface>(KNOWN_INTERFACES.map((k) => [k.uuid, k]));

/** The well-known name of a text UUID (any case), e.g. "EMSMDB"; undefined if unknown. */
export function interfaceName(uuidString: string): string | undefined {
  return BY_UUID.get(uuidString.toLowerCase())?.name;
}

/** Name of the set meaning "whatever the server registers". */
export const SET_ANY = 'any';

/**
 * Built-in sets a rule's `interfaces` may name. Each member allows its major version and any
 * minor up to the registered one (C706 compatibility rule).
 */
export const INTERFACE_SETS: ReadonlyMap<string, readonly KnownInterface[]> = new Map([
  ['exchange', [EMSMDB, ASYNC_EMSMDB, NSPI, RFR]],
  ['emsmdb', [EMSMDB]],
  ['asyncemsmdb', [ASYNC_EMSMDB]],
  ['nspi', [NSPI]],
  ['rfr', [RFR]],
]);
