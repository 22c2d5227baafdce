-- The fleet store for Hearth gateways (PostgreSQL 13+). Run as a superuser, e.g.
--   sudo -u postgres psql -v password="'...'" -f deploy/postgres/setup.sql
-- The gateways create and migrate their tables themselves (versioned, under an advisory lock, so replicas that
-- start together never migrate twice); the role needs only to own its database.
CREATE ROLE hearth LOGIN PASSWORD :password;
CREATE DATABASE hearth OWNER hearth;
-- In pg_hba.conf, allow the gateways' addresses with scram-sha-256 over TLS, e.g.
--   hostssl hearth hearth 10.0.0.0/24 scram-sha-256
