# /etc/openbao/openbao.hcl: one node of the seed's raft cluster, with our
# plugins. Replace node-1 and 10.0.0.11 per node; see docs/operations.md.
ui            = true
api_addr      = "https://10.0.0.11:8200"
cluster_addr  = "https://10.0.0.11:8201"
# Where our static plugin binaries live (same sha256 on every node).
plugin_directory = "/etc/openbao/plugins"

storage "raft" {
  path    = "/var/lib/openbao/raft"
  node_id = "node-1"
  performance_multiplier = 1

  retry_join {
    leader_api_addr     = "https://10.0.0.11:8200"
    leader_ca_cert_file = "/etc/openbao/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://10.0.0.12:8200"
    leader_ca_cert_file = "/etc/openbao/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://10.0.0.13:8200"
    leader_ca_cert_file = "/etc/openbao/tls/ca.pem"
  }
}

listener "tcp" {
  address                  = "0.0.0.0:8200"
  cluster_address          = "0.0.0.0:8201"
  tls_cert_file            = "/etc/openbao/tls/server.pem"
  tls_key_file             = "/etc/openbao/tls/server-key.pem"
  tls_disable_client_certs = true
}

# Vault only (OpenBao refuses the field): disable_mlock = true
