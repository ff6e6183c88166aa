# The two-VM lab's certificates, made on the Vagrant host (Vagrant's own Ruby has OpenSSL), so
# that both VMs get them with no exchange between VMs: the same layout and extensions as
# `migrate-cli certs` (packages/core/src/rpc/tls.ts): ca.pem, NAME.pem, NAME-key.pem, P-256 keys,
# one certificate per node (server and client) and one "client" certificate for the CLI, each
# with its role as a SAN URI (livemig:node:NAME, livemig:operator:client). Existing files are
# kept, except certificates made before roles (no livemig URI), which are issued again.
# The CA key stays here, on the Vagrant host: the VMs get ca.pem and their own pair only.
# Standalone: ruby lab-pki.rb DIR node1=IP node2=IP
require 'openssl'
require 'fileutils'

module LabPki
  module_function

  def write_key(path, key)
    File.write(path, key.to_pem)
    File.chmod(0o600, path)
  end

  def name_of(subject)
    OpenSSL::X509::Name.parse("/CN=#{subject}")
  end

  def signed(subject_key, subject, issuer_cert, issuer_key, days, serial)
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = serial
    cert.subject = name_of(subject)
    cert.issuer = issuer_cert ? issuer_cert.subject : cert.subject
    cert.public_key = subject_key
    cert.not_before = Time.now - 60
    cert.not_after = Time.now + days * 86_400
    [cert, OpenSSL::X509::ExtensionFactory.new(issuer_cert || cert, cert)]
  end

  # Whether a certificate says its role (made since roles: a livemig SAN URI).
  def role?(path)
    cert = OpenSSL::X509::Certificate.new(File.read(path))
    cert.extensions.any? { |e| e.oid == 'subjectAltName' && e.value.include?('URI:livemig:') }
  end

  # nodes: { "node1" => "192.168.56.11", ... }
  def make(dir, nodes)
    FileUtils.mkdir_p(dir, mode: 0o700)
    ca_path = File.join(dir, 'ca.pem')
    ca_key_path = File.join(dir, 'ca-key.pem')
    unless File.exist?(ca_path)
      key = OpenSSL::PKey::EC.generate('prime256v1')
      cert, ef = signed(key, 'livemig CA', nil, nil, 3650, 1)
      cert.add_extension(ef.create_extension('basicConstraints', 'CA:TRUE', true))
      cert.add_extension(ef.create_extension('keyUsage', 'keyCertSign,cRLSign', true))
      cert.add_extension(ef.create_extension('subjectKeyIdentifier', 'hash'))
      cert.sign(key, OpenSSL::Digest.new('SHA256'))
      write_key(ca_key_path, key)
      File.write(ca_path, cert.to_pem)
    end
    ca = OpenSSL::X509::Certificate.new(File.read(ca_path))
    ca_key = OpenSSL::PKey.read(File.read(ca_key_path))
    subjects = nodes.map do |name, ip|
      [name, ["DNS:#{name}", 'DNS:localhost', 'IP:127.0.0.1', "IP:#{ip}", "URI:livemig:node:#{name}"]]
    end
    subjects << ['client', ['URI:livemig:operator:client']]
    subjects.each do |name, san|
      path = File.join(dir, "#{name}.pem")
      next if File.exist?(path) && role?(path)
      key = OpenSSL::PKey::EC.generate('prime256v1')
      cert, ef = signed(key, name, ca, ca_key, 825, OpenSSL::BN.rand(64).to_i)
      cert.add_extension(ef.create_extension('basicConstraints', 'CA:FALSE'))
      cert.add_extension(ef.create_extension('keyUsage', 'digitalSignature,keyEncipherment'))
      cert.add_extension(ef.create_extension('extendedKeyUsage', 'serverAuth,clientAuth'))
      cert.add_extension(ef.create_extension('subjectAltName', san.join(',')))
      cert.sign(ca_key, OpenSSL::Digest.new('SHA256'))
      write_key(File.join(dir, "#{name}-key.pem"), key)
      File.write(path, cert.to_pem)
    end
  end
end

if $PROGRAM_NAME == __FILE__
  abort 'usage: ruby lab-pki.rb DIR NAME=IP...' if ARGV.length < 2
  LabPki.make(ARGV[0], ARGV[1..].to_h { |s| s.split('=', 2) })
end
