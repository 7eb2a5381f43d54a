/** The VRRP part of keepalived.conf: keepalived's defaults, the exact config, errors on their lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VrrpInstanceConfig } from '../../../src/vrrp/vrrp-config.js';
import { instanceConfig } from '../../helpers/vrrp-instance-config.js';
import { readText } from './conf-files.js';

/** One instance block of the two-director file (14 lines). */
function director(name: string, link: string, vrid: number, vip: string): string {
  return `vrrp_instance ${name} {
  state MASTER
  interface ${link}
  virtual_router_id ${vrid}
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  virtual_ipaddress {
    ${vip}
  }
}
`;
}

const TWO_DIRECTORS = `global_defs {
  router_id LVS_A
  lvs_sync_daemon int VI_INT id 51
}
vrrp_sync_group VG1 {
  group {
    VI_EXT
    VI_INT
  }
  notify_master "/etc/keepalived/master.sh VG1"
}
${director('VI_EXT', 'ext', 51, '192.168.222.131/24')}${director('VI_INT', 'int', 52, '192.168.2.136/24')}`;

function expected(over: Partial<VrrpInstanceConfig>): VrrpInstanceConfig {
  return instanceConfig({ name: 'VI_EXT', initialState: 'MASTER', priority: 150, authPass: 's3cret', ...over });
}

test('the textbook two-director file loads to the exact configuration', (t) => {
  const conf = readText(t, TWO_DIRECTORS);
  assert.deepEqual(
    conf.diagnostics.map((d) => `${d.line} ${d.severity}`),
    ['2 warning'],
  );
  const file = conf.files[0];
  assert.deepEqual(conf.vrrp, {
    instances: [
      expected({
        file,
        line: 12,
        virtualAddresses: [{ addr: 0xc0a8de83 | 0, prefixLen: 24, link: 'ext' }],
      }),
      expected({
        name: 'VI_INT',
        file,
        line: 26,
        link: 'int',
        vrid: 52,
        virtualAddresses: [{ addr: 0xc0a80288 | 0, prefixLen: 24, link: 'int' }],
      }),
    ],
    syncGroups: [
      {
        name: 'VG1',
        file,
        line: 5,
        members: ['VI_EXT', 'VI_INT'],
        notifyMaster: ['/etc/keepalived/master.sh', 'VG1'],
        notifyBackup: null,
        notifyFault: null,
        notifyStop: null,
        notify: null,
      },
    ],
    lvsSyncDaemon: {
      link: 'int',
      instance: 'VI_INT',
      syncid: 51,
      maxlen: 0,
      port: 0,
      ttl: 0,
      group: 0,
      file,
      line: 3,
    },
  });
});

function one(t: Parameters<typeof readText>[0], body: string, globals = ''): VrrpInstanceConfig {
  const conf = readText(
    t,
    `global_defs {\n${globals}\n}\nvrrp_instance VI {\n  interface ext\n  virtual_router_id 9\n${body}\n}\n`,
  );
  assert.deepEqual(
    conf.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return conf.vrrp.instances[0];
}

test("keepalived's defaults: priority by state, advert_int rounding, nopreempt with MASTER, globals", (t) => {
  assert.equal(one(t, 'state MASTER').priority, 255);
  assert.equal(one(t, 'state BACKUP').priority, 100);
  assert.equal(one(t, '').initialState, 'BACKUP');
  assert.equal(one(t, 'state maybe').initialState, 'BACKUP');
  assert.equal(one(t, 'advert_int 1.6').advertIntMs, 2000);
  assert.equal(one(t, 'advert_int 0.2').advertIntMs, 1000);
  assert.equal(one(t, 'advert_int 300').advertIntMs, 255_000);
  assert.equal(one(t, 'version 3\nadvert_int 0.234').advertIntMs, 230);
  assert.equal(one(t, 'advert_int 50', 'vrrp_version 3').advertIntMs, 40_950);
  assert.equal(one(t, 'state MASTER\npriority 100\nnopreempt').preempt, true);
  assert.equal(one(t, 'nopreempt').preempt, false);
  assert.equal(one(t, 'preempt_delay 30').preemptDelayMs, 30_000);
  assert.equal(one(t, 'nopreempt\npreempt_delay 30').preemptDelayMs, 0);
  const g = one(
    t,
    'notify "/bin/n x"',
    'vrrp_version 3\nvrrp_garp_master_delay 2\nvrrp_garp_master_repeat 3\nvrrp_garp_master_refresh 60\nvrrp_garp_master_refresh_repeat 2\nvrrp_v3_checksum_as_v2',
  );
  assert.deepEqual(
    [
      g.version,
      g.garpMasterDelayMs,
      g.garpMasterRepeat,
      g.garpMasterRefreshMs,
      g.garpMasterRefreshRepeat,
      g.v3ChecksumAsV2,
    ],
    [3, 2000, 3, 60_000, 2, true],
  );
  assert.deepEqual(g.notify, ['/bin/n', 'x']);
  assert.equal(one(t, 'garp_master_repeat 1', 'vrrp_garp_master_repeat 3').garpMasterRepeat, 1);
  const v = one(t, 'virtual_ipaddress {\n 10.0.0.1\n 10.0.1.1/16 dev int label x\n}');
  assert.deepEqual(v.virtualAddresses, [
    { addr: 0x0a000001, prefixLen: 32, link: 'ext' },
    { addr: 0x0a000101, prefixLen: 16, link: 'int' },
  ]);
});

test('lvs_sync_daemon: without an instance syncid 0; every option read', (t) => {
  const conf = readText(t, 'global_defs {\n  lvs_sync_daemon int maxlen 1400 port 8849 ttl 2 group 224.0.0.82\n}\n');
  assert.deepEqual(conf.diagnostics, []);
  assert.deepEqual(conf.vrrp.lvsSyncDaemon, {
    link: 'int',
    instance: null,
    syncid: 0,
    maxlen: 1400,
    port: 8849,
    ttl: 2,
    group: 0xe0000052 | 0,
    file: conf.files[0],
    line: 2,
  });
});

test('errors carry their file:line', (t) => {
  const conf = readText(
    t,
    `global_defs {
  lvs_sync_daemon int VI_NONE
}
vrrp_instance NO_VRID {
  interface ext
}
vrrp_instance BAD_VRID {
  interface ext
  virtual_router_id 256
}
vrrp_instance A {
  interface ext
  virtual_router_id 1
}
vrrp_instance B {
  interface ext
  virtual_router_id 1
}
vrrp_sync_group G1 {
  group {
    A
    GHOST
  }
}
vrrp_sync_group G2 {
  group {
    A
  }
}
vrrp_instance C {
  interface ext
  virtual_router_id 3
  unicast_peer {
    10.0.0.2
  }
  use_vmac
  authentication {
    auth_type AH
    auth_pass x
  }
  virtual_ipaddress {
    2001:db8::1
  }
  track_interface {
    int weight 10
  }
  track_script {
    chk
  }
}
`,
  );
  assert.deepEqual(
    conf.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}: ${d.message}`),
    [
      '2: lvs_sync_daemon: no vrrp_instance VI_NONE',
      '4: vrrp_instance NO_VRID: missing virtual_router_id (1..255)',
      '7: vrrp_instance BAD_VRID: missing virtual_router_id (1..255)',
      '9: virtual_router_id: 256 is outside [1, 255]',
      `15: vrrp_instance B: interface ext virtual_router_id 1 is already used by A at ${conf.files[0]}:11`,
      '22: vrrp_sync_group G1: no vrrp_instance GHOST',
      '27: vrrp_sync_group G2: A is already in vrrp_sync_group G1',
      '33: unicast_peer: tapvs sends adverts to 224.0.0.18 only',
      '36: use_vmac: tapvs keeps the link MAC for the virtual addresses (no virtual MAC)',
      '37: authentication: auth_type AH is not supported by tapvs (use PASS or none)',
      "42: virtual_ipaddress: '2001:db8::1' is an IPv6 address: tapvs forwards IPv4 only",
      "45: track_interface int weight 10: tapvs tracks only the instance's own link, without a weight",
      '47: track_script: tapvs runs no track scripts: the peer could not tell this instance should give up',
    ],
  );
  assert.deepEqual(
    conf.vrrp.instances.map((i) => i.name),
    ['A', 'C'],
  );
});
