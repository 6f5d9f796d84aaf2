package server

// redisKeyFlags are Redis 7.0's key-spec flags of the commands whose key specs the table
// does not write out: those of the key at argument 1 (first), and of the keys after it
// (rest; nil: as the first). COMMAND GETKEYSANDFLAGS reports them and ACL %R~/%W~ key
// permissions check them (keyFlags). SET's are refined by its arguments (keyFlagsIn).
var redisKeyFlags = map[string]struct{ first, rest []string }{
	"append":           {first: []string{"RW", "insert"}},
	"blmpop":           {first: []string{"RW", "access", "delete"}},
	"decr":             {first: []string{"RW", "access", "update"}},
	"decrby":           {first: []string{"RW", "access", "update"}},
	"del":              {first: []string{"RM", "delete"}},
	"exists":           {first: []string{"RO"}},
	"expire":           {first: []string{"RW", "update"}},
	"expireat":         {first: []string{"RW", "update"}},
	"get":              {first: []string{"RO", "access"}},
	"hdel":             {first: []string{"RW", "delete"}},
	"hexists":          {first: []string{"RO"}},
	"hget":             {first: []string{"RO", "access"}},
	"hgetall":          {first: []string{"RO", "access"}},
	"hincrby":          {first: []string{"RW", "access", "update"}},
	"hlen":             {first: []string{"RO"}},
	"hmget":            {first: []string{"RO", "access"}},
	"hmset":            {first: []string{"RW", "update"}},
	"hset":             {first: []string{"RW", "update"}},
	"incr":             {first: []string{"RW", "access", "update"}},
	"incrby":           {first: []string{"RW", "access", "update"}},
	"incrbyfloat":      {first: []string{"RW", "access", "update"}},
	"lindex":           {first: []string{"RO", "access"}},
	"linsert":          {first: []string{"RW", "insert"}},
	"llen":             {first: []string{"RO"}},
	"lmove":            {first: []string{"RW", "access", "delete"}, rest: []string{"RW", "insert"}},
	"lmpop":            {first: []string{"RW", "access", "delete"}},
	"lpop":             {first: []string{"RW", "access", "delete"}},
	"lpos":             {first: []string{"RO", "access"}},
	"lpush":            {first: []string{"RW", "insert"}},
	"lpushx":           {first: []string{"RW", "insert"}},
	"lrange":           {first: []string{"RO", "access"}},
	"lrem":             {first: []string{"RW", "delete"}},
	"lset":             {first: []string{"RW", "update"}},
	"ltrim":            {first: []string{"RW", "delete"}},
	"mget":             {first: []string{"RO", "access"}},
	"mset":             {first: []string{"OW", "update"}},
	"persist":          {first: []string{"RW", "update"}},
	"pexpire":          {first: []string{"RW", "update"}},
	"pexpireat":        {first: []string{"RW", "update"}},
	"psetex":           {first: []string{"OW", "update"}},
	"pttl":             {first: []string{"RO", "access"}},
	"restore":          {first: []string{"OW", "update"}},
	"rpop":             {first: []string{"RW", "access", "delete"}},
	"rpoplpush":        {first: []string{"RW", "access", "delete"}, rest: []string{"RW", "insert"}},
	"rpush":            {first: []string{"RW", "insert"}},
	"rpushx":           {first: []string{"RW", "insert"}},
	"sadd":             {first: []string{"RW", "insert"}},
	"scard":            {first: []string{"RO"}},
	"sdiff":            {first: []string{"RO", "access"}},
	"sdiffstore":       {first: []string{"OW", "update"}, rest: []string{"RO", "access"}},
	"set":              {first: []string{"RW", "access", "update"}},
	"setex":            {first: []string{"OW", "update"}},
	"setnx":            {first: []string{"OW", "insert"}},
	"sinter":           {first: []string{"RO", "access"}},
	"sintercard":       {first: []string{"RO", "access"}},
	"sinterstore":      {first: []string{"RW", "update"}, rest: []string{"RO", "access"}},
	"sismember":        {first: []string{"RO"}},
	"smembers":         {first: []string{"RO", "access"}},
	"smismember":       {first: []string{"RO", "access"}},
	"smove":            {first: []string{"RW", "access", "delete"}, rest: []string{"RW", "insert"}},
	"spop":             {first: []string{"RW", "access", "delete"}},
	"srandmember":      {first: []string{"RO", "access"}},
	"srem":             {first: []string{"RW", "delete"}},
	"sscan":            {first: []string{"RO", "access"}},
	"strlen":           {first: []string{"RO"}},
	"sunion":           {first: []string{"RO", "access"}},
	"sunionstore":      {first: []string{"OW", "update"}, rest: []string{"RO", "access"}},
	"ttl":              {first: []string{"RO", "access"}},
	"type":             {first: []string{"RO"}},
	"unlink":           {first: []string{"RM", "delete"}},
	"xack":             {first: []string{"RW", "update"}},
	"xadd":             {first: []string{"RW", "update"}},
	"xautoclaim":       {first: []string{"RW", "delete"}},
	"xclaim":           {first: []string{"RW", "update"}},
	"xdel":             {first: []string{"RW", "delete"}},
	"xlen":             {first: []string{"RO"}},
	"xpending":         {first: []string{"RO", "access"}},
	"xrange":           {first: []string{"RO", "access"}},
	"xrevrange":        {first: []string{"RO", "access"}},
	"xsetid":           {first: []string{"RW", "update"}},
	"xtrim":            {first: []string{"RW", "delete"}},
	"zadd":             {first: []string{"RW", "update"}},
	"zcard":            {first: []string{"RO"}},
	"zcount":           {first: []string{"RO", "access"}},
	"zincrby":          {first: []string{"RW", "access", "update"}},
	"zlexcount":        {first: []string{"RO", "access"}},
	"zmscore":          {first: []string{"RO", "access"}},
	"zpopmax":          {first: []string{"RW", "access", "delete"}},
	"zpopmin":          {first: []string{"RW", "access", "delete"}},
	"zrandmember":      {first: []string{"RO", "access"}},
	"zrange":           {first: []string{"RO", "access"}},
	"zrangebylex":      {first: []string{"RO", "access"}},
	"zrangebyscore":    {first: []string{"RO", "access"}},
	"zrank":            {first: []string{"RO", "access"}},
	"zrem":             {first: []string{"RW", "delete"}},
	"zremrangebylex":   {first: []string{"RW", "delete"}},
	"zremrangebyrank":  {first: []string{"RW", "delete"}},
	"zremrangebyscore": {first: []string{"RW", "delete"}},
	"zrevrange":        {first: []string{"RO", "access"}},
	"zrevrangebylex":   {first: []string{"RO", "access"}},
	"zrevrangebyscore": {first: []string{"RO", "access"}},
	"zrevrank":         {first: []string{"RO", "access"}},
	"zscan":            {first: []string{"RO", "access"}},
	"zscore":           {first: []string{"RO", "access"}},
}

// SET's key flags, with and without GET.
var (
	setGetKeyFlags = []string{"RW", "access", "update"}
	setKeyFlags    = []string{"OW", "update"}
)

// keyFlagsIn are the key-spec flags of the key at argument pos of args, as Redis's
// getkeys procedures refine them: SET without GET only overwrites its key (OW update).
func (cmd *command) keyFlagsIn(args [][]byte, pos int) []string {
	if cmd.parent == nil && cmd.name == "set" {
		for _, a := range args[3:] {
			if eqFold(a, "get") {
				return setGetKeyFlags
			}
		}
		return setKeyFlags
	}
	return cmd.keyFlags(pos)
}
