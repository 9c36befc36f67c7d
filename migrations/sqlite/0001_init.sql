-- Infinivirt embedded state (SQLite): the same logical schema as the backend's
-- PostgreSQL tables the database contract uses (shared/spec/schema.sql), with the
-- same table and column names. Differences: JSON columns hold JSON text, booleans
-- are 0/1, timestamps are UTC text, enums are checked text, and "Machine" keeps why
-- its status last changed ("statusReason", "statusChangedAt"). The tables the
-- contract never reads ("User", "MachineTemplate*") are left out; "userId" and
-- "templateId" stay as plain columns.

CREATE TABLE "FirewallRuleSet" (
    "id"           TEXT NOT NULL PRIMARY KEY,
    "name"         TEXT NOT NULL,
    "internalName" TEXT NOT NULL UNIQUE,
    "entityType"   TEXT NOT NULL CHECK ("entityType" IN ('DEPARTMENT', 'VM')),
    "entityId"     TEXT NOT NULL,
    "priority"     INTEGER NOT NULL DEFAULT 500,
    "isActive"     BOOLEAN NOT NULL DEFAULT 1,
    "createdAt"    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    "updatedAt"    TEXT NOT NULL,
    UNIQUE ("entityType", "entityId")
);

CREATE TABLE "FirewallRule" (
    "id"              TEXT NOT NULL PRIMARY KEY,
    "ruleSetId"       TEXT NOT NULL REFERENCES "FirewallRuleSet" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "name"            TEXT NOT NULL,
    "description"     TEXT,
    "action"          TEXT NOT NULL DEFAULT 'ACCEPT' CHECK ("action" IN ('ACCEPT', 'DROP', 'REJECT')),
    "direction"       TEXT NOT NULL DEFAULT 'INOUT' CHECK ("direction" IN ('IN', 'OUT', 'INOUT')),
    "priority"        INTEGER NOT NULL DEFAULT 500,
    "protocol"        TEXT NOT NULL DEFAULT 'all',
    "srcPortStart"    INTEGER,
    "srcPortEnd"      INTEGER,
    "dstPortStart"    INTEGER,
    "dstPortEnd"      INTEGER,
    "srcIpAddr"       TEXT,
    "srcIpMask"       TEXT,
    "dstIpAddr"       TEXT,
    "dstIpMask"       TEXT,
    "connectionState" TEXT,
    "overridesDept"   BOOLEAN NOT NULL DEFAULT 0,
    "createdAt"       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    "updatedAt"       TEXT NOT NULL
);
CREATE INDEX "FirewallRule_ruleSetId_priority_idx" ON "FirewallRule" ("ruleSetId", "priority");

CREATE TABLE "Department" (
    "id"                TEXT NOT NULL PRIMARY KEY,
    "name"              TEXT NOT NULL,
    "createdAt"         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    "internetSpeed"     INTEGER,
    "ipSubnet"          TEXT,
    "updatedAt"         TEXT NOT NULL,
    "firewallRuleSetId" TEXT UNIQUE REFERENCES "FirewallRuleSet" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    "bridgeName"        TEXT,
    "gatewayIP"         TEXT,
    "dhcpRangeStart"    TEXT,
    "dhcpRangeEnd"      TEXT,
    "dnsmasqPid"        INTEGER,
    "mtu"               INTEGER DEFAULT 1500
);

CREATE TABLE "Machine" (
    "id"                TEXT NOT NULL PRIMARY KEY,
    "name"              TEXT NOT NULL,
    "internalName"      TEXT NOT NULL,
    "status"            TEXT NOT NULL,
    "userId"            TEXT,
    "templateId"        TEXT,
    "os"                TEXT NOT NULL,
    "cpuCores"          INTEGER NOT NULL DEFAULT 0,
    "ramGB"             INTEGER NOT NULL DEFAULT 0,
    "diskSizeGB"        INTEGER NOT NULL DEFAULT 0,
    "gpuPciAddress"     TEXT,
    "createdAt"         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    "updatedAt"         TEXT NOT NULL,
    "departmentId"      TEXT REFERENCES "Department" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    "version"           INTEGER NOT NULL DEFAULT 1,
    "localIP"           TEXT,
    "publicIP"          TEXT,
    "firewallRuleSetId" TEXT UNIQUE REFERENCES "FirewallRuleSet" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    "statusReason"      TEXT,
    "statusChangedAt"   TEXT
);
CREATE INDEX "Machine_status_idx" ON "Machine" ("status");

CREATE TABLE "MachineConfiguration" (
    "id"                      TEXT NOT NULL PRIMARY KEY,
    "xml"                     TEXT,
    "graphicProtocol"         TEXT,
    "graphicPort"             INTEGER,
    "graphicPassword"         TEXT,
    "graphicHost"             TEXT,
    "assignedGpuBus"          TEXT,
    "machineId"               TEXT NOT NULL UNIQUE REFERENCES "Machine" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "createdAt"               TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    "updatedAt"               TEXT NOT NULL,
    "qmpSocketPath"           TEXT,
    "qemuPid"                 INTEGER,
    "tapDeviceName"           TEXT,
    "bridge"                  TEXT DEFAULT 'virbr0',
    "networkModel"            TEXT DEFAULT 'virtio-net-pci',
    "networkQueues"           INTEGER DEFAULT 1,
    "machineType"             TEXT DEFAULT 'q35',
    "cpuModel"                TEXT DEFAULT 'host',
    "diskBus"                 TEXT DEFAULT 'virtio',
    "diskCacheMode"           TEXT DEFAULT 'writeback',
    "ioThreads"               BOOLEAN DEFAULT 0,
    "diskPaths"               TEXT,
    "gpuRomFile"              TEXT,
    "gpuAudioBus"             TEXT,
    "memoryBalloon"           BOOLEAN DEFAULT 0,
    "hugepages"               BOOLEAN DEFAULT 0,
    "numaConfig"              TEXT,
    "cpuPinning"              TEXT,
    "enableNumaCtlPinning"    BOOLEAN DEFAULT 0,
    "cpuPinningStrategy"      TEXT DEFAULT 'basic',
    "uefiFirmware"            TEXT,
    "secureboot"              BOOLEAN DEFAULT 0,
    "tpmSocketPath"           TEXT,
    "guestAgentSocketPath"    TEXT,
    "infiniServiceSocketPath" TEXT,
    "virtioDriversIso"        TEXT,
    "enableAudio"             BOOLEAN DEFAULT 0,
    "enableUsbTablet"         BOOLEAN DEFAULT 1,
    "setupComplete"           BOOLEAN DEFAULT 0
);
