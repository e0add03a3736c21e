import { Module } from '@nestjs/common';
import { MessagesController } from './messages/messages.controller.js';
import { ProjectCreatedConsumer } from './projects/project-created.consumer.js';
import { TypingController, TypingSweeper } from './typing/typing.controller.js';

@Module({ controllers: [MessagesController, TypingController], providers: [TypingSweeper, ProjectCreatedConsumer] })
export class ChatModule {}
