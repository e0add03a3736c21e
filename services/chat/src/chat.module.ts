import { Module } from '@nestjs/common';
import { ProjectMembersModule } from '@siteflow/servicekit';
import { publishAddedMemberBadge } from './messages/badges.js';
import { MessagesController } from './messages/messages.controller.js';
import { TypingController, TypingSweeper } from './typing/typing.controller.js';

@Module({
  imports: [
    // Members (checked on every command, and whose unread counts a message moves) as documents announces them;
    // one added gets their badge once this copy has them.
    ProjectMembersModule.register({
      table: 'chat.members',
      waitForUnknownProjectMs: 2_000,
      follow: { durable: 'chat-members', onMembershipChanged: publishAddedMemberBadge },
    }),
  ],
  controllers: [MessagesController, TypingController],
  providers: [TypingSweeper],
})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is its decorator; the class carries nothing else
export class ChatModule {}
