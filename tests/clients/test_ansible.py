"""Ansible's `openstack.cloud` collection (from the `ansible` package on
PyPI, in .venv-ansible: see ansible-requirements.txt) against oxstack, as a deployment playbook uses it: a key pair, a
network with a subnet and a router to `public`, a security group with
rules, a server with `auto_ip` (a floating address), its actions and its
facts, and everything deleted again. Every task's result is asserted in
the playbook itself; the test checks the play ran them all without a
failure.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from oxhelpers import create_project_user, delete_project_user, unique, user_env

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    prefix: "{prefix}"
  tasks:
    - name: key pair
      openstack.cloud.keypair:
        name: "{{{{ prefix }}}}-key"
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq7Y2mcJ0wQ4vG6nZP8ks0n5a3d4X8ylP0Ew1mTn2iR ansible@oxstack"
      register: key
    - assert:
        that:
          - key is changed
          - key.keypair.name == prefix + '-key'
          - key.keypair.fingerprint | length > 0

    - name: network
      openstack.cloud.network:
        name: "{{{{ prefix }}}}-net"
      register: net
    - name: subnet
      openstack.cloud.subnet:
        name: "{{{{ prefix }}}}-subnet"
        network_name: "{{{{ prefix }}}}-net"
        cidr: 192.168.70.0/24
        dns_nameservers: [8.8.8.8]
      register: subnet
    - assert:
        that:
          - net.network.name == prefix + '-net'
          - subnet.subnet.gateway_ip == '192.168.70.1'
          - subnet.subnet.network_id == net.network.id

    - name: router to public
      openstack.cloud.router:
        name: "{{{{ prefix }}}}-router"
        network: public
        interfaces:
          - "{{{{ prefix }}}}-subnet"
      register: router
    - assert:
        that:
          - router is changed
          - router.router.external_gateway_info.network_id | length > 0

    - name: security group
      openstack.cloud.security_group:
        name: "{{{{ prefix }}}}-sg"
        description: web servers
      register: sg
    - name: ssh rule
      openstack.cloud.security_group_rule:
        security_group: "{{{{ prefix }}}}-sg"
        protocol: tcp
        port_range_min: 22
        port_range_max: 22
        remote_ip_prefix: 0.0.0.0/0
      register: ssh
    - name: icmp rule
      openstack.cloud.security_group_rule:
        security_group: "{{{{ prefix }}}}-sg"
        protocol: icmp
        remote_ip_prefix: 0.0.0.0/0
    - assert:
        that:
          - sg.security_group.name == prefix + '-sg'
          - ssh.rule.port_range_min == 22
          - ssh.rule.security_group_id == sg.security_group.id

    - name: server with a floating address
      openstack.cloud.server:
        name: "{{{{ prefix }}}}-vm"
        image: cirros
        flavor: m1.tiny
        network: "{{{{ prefix }}}}-net"
        key_name: "{{{{ prefix }}}}-key"
        security_groups: ["{{{{ prefix }}}}-sg"]
        auto_ip: true
        wait: true
        timeout: 120
      register: vm
    - assert:
        that:
          - vm is changed
          - vm.server.status == 'ACTIVE'
          - vm.server.key_name == prefix + '-key'
          - vm.server.addresses[prefix + '-net'] | selectattr('OS-EXT-IPS:type', 'equalto', 'floating') | list | length == 1

    - name: stop
      openstack.cloud.server_action:
        server: "{{{{ prefix }}}}-vm"
        action: stop
        wait: true
    - name: facts while stopped
      openstack.cloud.server_info:
        name: "{{{{ prefix }}}}-vm"
      register: stopped
    - assert:
        that:
          - stopped.servers | length == 1
          - stopped.servers[0].status == 'SHUTOFF'
    - name: start
      openstack.cloud.server_action:
        server: "{{{{ prefix }}}}-vm"
        action: start
        wait: true
    - name: reboot
      openstack.cloud.server_action:
        server: "{{{{ prefix }}}}-vm"
        action: reboot_soft
        wait: true
    - name: facts
      openstack.cloud.server_info:
        name: "{{{{ prefix }}}}-vm"
      register: info
    - assert:
        that:
          - info.servers | length == 1
          - info.servers[0].status == 'ACTIVE'
          - info.servers[0].id == vm.server.id
          - info.servers[0].security_groups | map(attribute='name') | list == [prefix + '-sg']

    - name: delete the server and its floating address
      openstack.cloud.server:
        name: "{{{{ prefix }}}}-vm"
        state: absent
        delete_ips: true
        wait: true
      register: gone
    - name: facts after the delete
      openstack.cloud.server_info:
        name: "{{{{ prefix }}}}-vm"
      register: after
    - name: floating addresses left
      openstack.cloud.floating_ip_info:
      register: fips
    - assert:
        that:
          - gone is changed
          - after.servers | length == 0
          - fips.floating_ips | length == 0

    - name: delete the router
      openstack.cloud.router:
        name: "{{{{ prefix }}}}-router"
        state: absent
    - name: delete the security group
      openstack.cloud.security_group:
        name: "{{{{ prefix }}}}-sg"
        state: absent
    - name: delete the subnet
      openstack.cloud.subnet:
        name: "{{{{ prefix }}}}-subnet"
        state: absent
    - name: delete the network
      openstack.cloud.network:
        name: "{{{{ prefix }}}}-net"
        state: absent
      register: net_gone
    - name: delete the key pair
      openstack.cloud.keypair:
        name: "{{{{ prefix }}}}-key"
        state: absent
      register: key_gone
    - assert:
        that:
          - net_gone is changed
          - key_gone is changed
"""

# Block storage as a deployment uses it: a data volume, a server booted
# from a volume made of the image (deleted with the server), the data
# volume attached and detached, and both volumes' states seen through
# Cinder at each step.
VOLUME_PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    prefix: "{prefix}"
  tasks:
    - name: network
      openstack.cloud.network:
        name: "{{{{ prefix }}}}-net"
    - name: subnet
      openstack.cloud.subnet:
        name: "{{{{ prefix }}}}-subnet"
        network_name: "{{{{ prefix }}}}-net"
        cidr: 192.168.71.0/24

    - name: data volume
      openstack.cloud.volume:
        name: "{{{{ prefix }}}}-data"
        size: 1
        description: data
      register: data
    - assert:
        that:
          - data is changed
          - data.volume.status == 'available'
          - data.volume.size == 1

    - name: server booted from a volume
      openstack.cloud.server:
        name: "{{{{ prefix }}}}-vm"
        image: cirros
        flavor: m1.tiny
        network: "{{{{ prefix }}}}-net"
        boot_from_volume: true
        volume_size: 1
        terminate_volume: true
        auto_ip: false
        wait: true
        timeout: 120
      register: vm
    - assert:
        that:
          - vm.server.status == 'ACTIVE'
          - vm.server.volumes | length == 1

    - name: attach the data volume
      openstack.cloud.server_volume:
        server: "{{{{ prefix }}}}-vm"
        volume: "{{{{ prefix }}}}-data"
        wait: true
      register: attach
    - name: the data volume in use
      openstack.cloud.volume_info:
        name: "{{{{ prefix }}}}-data"
      register: attached
    - assert:
        that:
          - attach is changed
          - attached.volumes | length == 1
          - attached.volumes[0].status == 'in-use'
          - attached.volumes[0].attachments[0].server_id == vm.server.id

    - name: detach it
      openstack.cloud.server_volume:
        server: "{{{{ prefix }}}}-vm"
        volume: "{{{{ prefix }}}}-data"
        state: absent
        wait: true
      register: detach
    - name: the data volume free again
      openstack.cloud.volume_info:
        name: "{{{{ prefix }}}}-data"
      register: detached
    - assert:
        that:
          - detach is changed
          - detached.volumes[0].status == 'available'
          - detached.volumes[0].attachments | length == 0

    - name: delete the server
      openstack.cloud.server:
        name: "{{{{ prefix }}}}-vm"
        state: absent
        wait: true
    - name: volumes left
      openstack.cloud.volume_info:
      register: left
    - assert:
        that:
          - left.volumes | map(attribute='name') | list == [prefix + '-data']

    - name: delete the data volume
      openstack.cloud.volume:
        name: "{{{{ prefix }}}}-data"
        state: absent
        wait: true
      register: data_gone
    - name: delete the subnet
      openstack.cloud.subnet:
        name: "{{{{ prefix }}}}-subnet"
        state: absent
    - name: delete the network
      openstack.cloud.network:
        name: "{{{{ prefix }}}}-net"
        state: absent
    - name: no volume left
      openstack.cloud.volume_info:
      register: none_left
    - assert:
        that:
          - data_gone is changed
          - none_left.volumes | length == 0
"""


@pytest.fixture
def member(oxstack, admin_token):
    pu = create_project_user(oxstack.base_url, admin_token, role="member")
    yield pu, user_env(oxstack, pu.username, pu.password, pu.project)
    delete_project_user(oxstack.base_url, admin_token, pu)


def test_ansible_playbook_builds_and_removes_a_server_with_its_network(member, tmp_path: Path):
    run_playbook(PLAYBOOK, member[1], tmp_path)


def test_ansible_playbook_boots_from_a_volume_and_attaches_another(member, tmp_path: Path):
    run_playbook(VOLUME_PLAYBOOK, member[1], tmp_path)


def run_playbook(text: str, env: dict, tmp_path: Path):
    """Runs the playbook as the member; asserts every task ran and none
    failed (each task's result is asserted in the playbook)."""
    playbook = tmp_path / "site.yml"
    playbook.write_text(textwrap.dedent(text.format(prefix=unique("ans"))))
    venv = Path(os.environ.get("OXSTACK_ANSIBLE_VENV", Path(__file__).resolve().parents[2] / ".venv-ansible"))
    python = venv / "bin" / "python"
    run_env = dict(os.environ)
    run_env.update(env)
    run_env.update({
        # Everything Ansible writes stays in the test's directory.
        "ANSIBLE_HOME": str(tmp_path / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": str(python),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    })
    proc = subprocess.run([str(venv / "bin" / "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          env=run_env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # The recap: every task ran, none failed or was skipped.
    recap = [line for line in proc.stdout.splitlines() if line.startswith("localhost")]
    assert recap and "failed=0" in recap[-1] and "skipped=0" in recap[-1], output
    assert "unreachable=0" in recap[-1], output
