-- omega: touches-omega-tables
-- The Omega tables of seed 000, created only on a database that has none of
-- them. Table and column definitions are the seed's, unchanged; `users` is
-- moved first because `sessions` references it. Hypertables and other
-- time-series setup are in 003.

CREATE TABLE users (
    user_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username VARCHAR(100) UNIQUE NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255),
    role VARCHAR(50) NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'operator', 'user', 'readonly')),
    status VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'suspended')),
    last_login TIMESTAMP WITH TIME ZONE,
    failed_login_attempts INTEGER DEFAULT 0,
    account_locked_until TIMESTAMP WITH TIME ZONE,
    preferences JSONB DEFAULT '{}',
    quota_cpu_hours DECIMAL(10,2) DEFAULT 100,
    quota_memory_gb_hours DECIMAL(12,2) DEFAULT 1000,
    quota_storage_gb DECIMAL(12,2) DEFAULT 100,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_status ON users(status);

CREATE TABLE nodes (
    node_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    hostname VARCHAR(255) NOT NULL,
    ip_address INET NOT NULL,
    node_type VARCHAR(50) NOT NULL CHECK (node_type IN ('control', 'compute', 'storage', 'gpu', 'hybrid')),
    status VARCHAR(20) NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive', 'draining', 'failed', 'maintenance')),
    total_cpu_cores INTEGER NOT NULL,
    total_memory_gb DECIMAL(10,2) NOT NULL,
    total_storage_gb DECIMAL(12,2) NOT NULL,
    gpu_count INTEGER DEFAULT 0,
    gpu_memory_gb DECIMAL(10,2) DEFAULT 0,
    network_bandwidth_mbps INTEGER DEFAULT 1000,
    architecture VARCHAR(20) NOT NULL DEFAULT 'x86_64',
    os_version VARCHAR(100),
    kernel_version VARCHAR(100),
    docker_version VARCHAR(50),
    labels JSONB DEFAULT '{}',
    annotations JSONB DEFAULT '{}',
    capabilities JSONB DEFAULT '{}',
    last_heartbeat TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_nodes_status ON nodes(status);
CREATE INDEX idx_nodes_type ON nodes(node_type);
CREATE INDEX idx_nodes_last_heartbeat ON nodes(last_heartbeat);
CREATE INDEX idx_nodes_labels ON nodes USING GIN(labels);

CREATE TABLE node_resources (
    resource_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    node_id UUID NOT NULL REFERENCES nodes(node_id) ON DELETE CASCADE,
    resource_type VARCHAR(50) NOT NULL CHECK (resource_type IN ('cpu', 'memory', 'storage', 'gpu', 'network')),
    total_capacity DECIMAL(15,4) NOT NULL,
    allocated_capacity DECIMAL(15,4) DEFAULT 0,
    available_capacity DECIMAL(15,4) GENERATED ALWAYS AS (total_capacity - allocated_capacity) STORED,
    reservation_capacity DECIMAL(15,4) DEFAULT 0,
    unit VARCHAR(20) NOT NULL,
    constraints JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE UNIQUE INDEX idx_node_resources_unique ON node_resources(node_id, resource_type);
CREATE INDEX idx_node_resources_type ON node_resources(resource_type);

CREATE TABLE sessions (
    session_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(user_id),
    session_name VARCHAR(255) NOT NULL,
    session_type VARCHAR(50) NOT NULL CHECK (session_type IN ('interactive', 'batch', 'streaming', 'ai_training', 'rendering')),
    application VARCHAR(100),
    container_image VARCHAR(500),
    status VARCHAR(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'scheduled', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    priority INTEGER DEFAULT 1 CHECK (priority BETWEEN 1 AND 10),
    max_runtime_minutes INTEGER,
    cpu_request DECIMAL(8,2) NOT NULL,
    cpu_limit DECIMAL(8,2),
    memory_request_gb DECIMAL(10,2) NOT NULL,
    memory_limit_gb DECIMAL(10,2),
    gpu_request INTEGER DEFAULT 0,
    gpu_type VARCHAR(50),
    storage_request_gb DECIMAL(12,2) DEFAULT 0,
    network_policy VARCHAR(50) DEFAULT 'default',
    environment_variables JSONB DEFAULT '{}',
    resource_constraints JSONB DEFAULT '{}',
    placement_preferences JSONB DEFAULT '{}',
    scheduled_node_id UUID REFERENCES nodes(node_id),
    actual_node_ids UUID[],
    start_time TIMESTAMP WITH TIME ZONE,
    end_time TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_sessions_user_id ON sessions(user_id);
CREATE INDEX idx_sessions_status ON sessions(status);
CREATE INDEX idx_sessions_type ON sessions(session_type);
CREATE INDEX idx_sessions_scheduled_node ON sessions(scheduled_node_id);
CREATE INDEX idx_sessions_created_at ON sessions(created_at);

CREATE TABLE session_allocations (
    allocation_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    node_id UUID NOT NULL REFERENCES nodes(node_id),
    resource_type VARCHAR(50) NOT NULL,
    allocated_amount DECIMAL(15,4) NOT NULL,
    unit VARCHAR(20) NOT NULL,
    allocation_time TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    deallocation_time TIMESTAMP WITH TIME ZONE,
    status VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'released', 'failed'))
);

CREATE INDEX idx_session_allocations_session ON session_allocations(session_id);
CREATE INDEX idx_session_allocations_node ON session_allocations(node_id);
CREATE INDEX idx_session_allocations_status ON session_allocations(status);

CREATE TABLE user_sessions (
    token_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    session_token VARCHAR(512) NOT NULL UNIQUE,
    refresh_token VARCHAR(512),
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    last_used_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    client_ip INET,
    user_agent TEXT
);

CREATE INDEX idx_user_sessions_token ON user_sessions(session_token);
CREATE INDEX idx_user_sessions_user_id ON user_sessions(user_id);
CREATE INDEX idx_user_sessions_expires_at ON user_sessions(expires_at);

CREATE TABLE node_metrics (
    time TIMESTAMPTZ NOT NULL,
    node_id UUID NOT NULL REFERENCES nodes(node_id),
    metric_type VARCHAR(50) NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit VARCHAR(20),
    labels JSONB DEFAULT '{}'
);

CREATE INDEX idx_node_metrics_node_time ON node_metrics(node_id, time DESC);
CREATE INDEX idx_node_metrics_type ON node_metrics(metric_type);

CREATE TABLE session_metrics (
    time TIMESTAMPTZ NOT NULL,
    session_id UUID NOT NULL REFERENCES sessions(session_id),
    metric_type VARCHAR(50) NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit VARCHAR(20),
    labels JSONB DEFAULT '{}'
);

CREATE INDEX idx_session_metrics_session_time ON session_metrics(session_id, time DESC);
CREATE INDEX idx_session_metrics_type ON session_metrics(metric_type);

CREATE TABLE system_events (
    event_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    event_type VARCHAR(100) NOT NULL,
    severity VARCHAR(20) NOT NULL CHECK (severity IN ('critical', 'error', 'warning', 'info', 'debug')),
    source_component VARCHAR(100) NOT NULL,
    source_node_id UUID REFERENCES nodes(node_id),
    session_id UUID REFERENCES sessions(session_id),
    user_id UUID REFERENCES users(user_id),
    message TEXT NOT NULL,
    details JSONB DEFAULT '{}',
    resolved_at TIMESTAMPTZ,
    resolved_by UUID REFERENCES users(user_id)
);

CREATE INDEX idx_system_events_type ON system_events(event_type);
CREATE INDEX idx_system_events_severity ON system_events(severity);
CREATE INDEX idx_system_events_timestamp ON system_events(timestamp DESC);

CREATE TABLE storage_pools (
    pool_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pool_name VARCHAR(255) NOT NULL UNIQUE,
    pool_type VARCHAR(50) NOT NULL CHECK (pool_type IN ('local', 'distributed', 'replicated', 'erasure_coded')),
    total_capacity_gb DECIMAL(15,2) NOT NULL,
    used_capacity_gb DECIMAL(15,2) DEFAULT 0,
    available_capacity_gb DECIMAL(15,2) GENERATED ALWAYS AS (total_capacity_gb - used_capacity_gb) STORED,
    replication_factor INTEGER DEFAULT 1,
    compression_enabled BOOLEAN DEFAULT true,
    encryption_enabled BOOLEAN DEFAULT true,
    performance_tier VARCHAR(20) DEFAULT 'standard' CHECK (performance_tier IN ('nvme', 'ssd', 'standard', 'cold')),
    node_ids UUID[] NOT NULL,
    policies JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_storage_pools_type ON storage_pools(pool_type);
CREATE INDEX idx_storage_pools_tier ON storage_pools(performance_tier);

CREATE TABLE storage_volumes (
    volume_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pool_id UUID NOT NULL REFERENCES storage_pools(pool_id),
    session_id UUID REFERENCES sessions(session_id),
    volume_name VARCHAR(255) NOT NULL,
    size_gb DECIMAL(12,2) NOT NULL,
    mount_path VARCHAR(500),
    access_mode VARCHAR(20) DEFAULT 'ReadWriteOnce' CHECK (access_mode IN ('ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany')),
    storage_class VARCHAR(100),
    snapshot_policy VARCHAR(100),
    backup_enabled BOOLEAN DEFAULT false,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    deleted_at TIMESTAMP WITH TIME ZONE
);

CREATE INDEX idx_storage_volumes_pool ON storage_volumes(pool_id);
CREATE INDEX idx_storage_volumes_session ON storage_volumes(session_id);
CREATE INDEX idx_storage_volumes_name ON storage_volumes(volume_name);

CREATE TABLE network_topologies (
    topology_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    topology_name VARCHAR(255) NOT NULL,
    network_type VARCHAR(50) NOT NULL CHECK (network_type IN ('ethernet', 'infiniband', 'roce', 'omni_path')),
    subnet CIDR NOT NULL,
    vlan_id INTEGER,
    bandwidth_mbps INTEGER NOT NULL,
    latency_ms DECIMAL(8,4),
    mtu INTEGER DEFAULT 1500,
    qos_policies JSONB DEFAULT '{}',
    security_policies JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_network_topologies_type ON network_topologies(network_type);
CREATE INDEX idx_network_topologies_subnet ON network_topologies(subnet);

CREATE TABLE node_network_interfaces (
    interface_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    node_id UUID NOT NULL REFERENCES nodes(node_id) ON DELETE CASCADE,
    topology_id UUID REFERENCES network_topologies(topology_id),
    interface_name VARCHAR(50) NOT NULL,
    mac_address MACADDR NOT NULL,
    ip_address INET,
    interface_type VARCHAR(20) NOT NULL CHECK (interface_type IN ('management', 'data', 'storage', 'cluster')),
    speed_mbps INTEGER NOT NULL,
    duplex VARCHAR(10) DEFAULT 'full',
    status VARCHAR(20) DEFAULT 'up' CHECK (status IN ('up', 'down', 'unknown')),
    driver VARCHAR(100),
    firmware_version VARCHAR(100),
    pci_slot VARCHAR(20),
    numa_node INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE UNIQUE INDEX idx_node_interfaces_node_name ON node_network_interfaces(node_id, interface_name);
CREATE INDEX idx_node_interfaces_topology ON node_network_interfaces(topology_id);
CREATE INDEX idx_node_interfaces_type ON node_network_interfaces(interface_type);
